"use strict";
/*
 * Starts the example: `node server.js`. Settings come from the environment (README.md):
 *
 *   MIROCONNECT_URL       the miroconnect service (default http://127.0.0.1:8000)
 *   MIROCONNECT_API_KEY   one of the service's MIROCONNECT_API_KEYS (required)
 *   APP_URL               this app as browsers reach it (default http://localhost:PORT);
 *                         its origin must be in the service's MIROCONNECT_ALLOWED_RETURN_URLS
 *   HOST, PORT            where to listen (default 127.0.0.1, 3000)
 *   SESSION_SECRET        signs the session cookie (default: random, so a restart signs
 *                         everyone out)
 *   EXAMPLE_USERS         name:password,... (default alice and bob, see README.md)
 */

const crypto = require("node:crypto");

const { createApp } = require("./app");
const { MiroconnectService } = require("./service");
const { Users } = require("./users");

const DEFAULT_USERS = "alice:alice-example-pw,bob:bob-example-pw";

async function main(env) {
  const port = Number(env.PORT || 3000);
  const host = env.HOST || "127.0.0.1";
  const appUrl = (env.APP_URL || `http://localhost:${port}`).replace(/\/+$/, "");
  if (!env.MIROCONNECT_API_KEY) {
    throw new Error("MIROCONNECT_API_KEY is not set: one of the service's API keys");
  }
  const app = createApp({
    users: await Users.fromSpec(env.EXAMPLE_USERS || DEFAULT_USERS),
    service: new MiroconnectService({
      baseUrl: env.MIROCONNECT_URL || "http://127.0.0.1:8000",
      apiKey: env.MIROCONNECT_API_KEY,
    }),
    appUrl,
    sessionSecret: env.SESSION_SECRET || crypto.randomBytes(32).toString("hex"),
  });
  const server = app.listen(port, host, () => {
    console.log(`Node example on ${appUrl}/ (listening on ${host}:${port})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main(process.env).catch((error) => {
  console.error(`cannot start: ${error.message}`);
  process.exit(1);
});
