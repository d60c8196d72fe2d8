"use strict";
/*
 * The Express app: its own sign-in (sessions, CSRF tokens on every form), and "Create
 * board on Miro" through the miroconnect service API only:
 *
 *   POST /boards         -> service POST /api/v1/users/{id}/boards (API key, return_url)
 *                           201: the board; 202: the browser goes to `authorize_url`
 *   GET  /miro/return    <- the browser, back from Miro's consent with `miro_result`
 *                           -> service POST .../connection/confirm for the signed-in user
 *
 * The confirm is why the return page needs this app's session: only this app knows which
 * of its users came back, and the service creates the board only for the user the flow
 * was started for.
 */

const crypto = require("node:crypto");
const path = require("node:path");

const { csrfSync } = require("csrf-sync");
const express = require("express");
const session = require("express-session");
const helmet = require("helmet");

const views = require("./views");

/* What a user is told for the confirm's refusals (anything else: a general line). */
const USER_TEXT = {
  flow_user_mismatch:
    "This Miro approval was started from another account. Sign in with that " +
    "account, or start again here.",
  result_expired: "The Miro approval took too long. Start again.",
  result_used: "This Miro approval was already used. Start again.",
  result_unknown: "This Miro approval is not known. Start again.",
};
const BOARD_NAME_MAX = 60; // Miro's limit
const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const RESULT = /^[A-Za-z0-9_-]{1,128}$/;
const SESSION_HOURS = 8;

/* A path on this app to go back to after sign-in; anything else goes home. */
function safeNext(value) {
  const next = typeof value === "string" ? value : "";
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : "/";
}

function newRequestId() {
  return crypto.randomBytes(16).toString("base64url");
}

function createApp({ users, service, appUrl, sessionSecret }) {
  const app = express();
  const { csrfSynchronisedProtection, generateToken } = csrfSync({
    getTokenFromRequest: (req) => req.body && req.body._csrf,
  });

  app.disable("x-powered-by");
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        // No scripts at all. No form-action: "Create board" redirects on to the
        // service and Miro, and browsers apply form-action to a post's redirects.
        directives: {
          defaultSrc: ["'none'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'"],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
        },
      },
      // The return page's URL carries the one-time `miro_result`.
      referrerPolicy: { policy: "no-referrer" },
    })
  );
  app.use(express.static(path.join(__dirname, "public"), { index: false }));
  app.use(
    session({
      name: "example.sid",
      secret: sessionSecret,
      resave: false,
      saveUninitialized: false,
      cookie: {
        httpOnly: true,
        sameSite: "lax",
        secure: appUrl.startsWith("https://"),
        maxAge: SESSION_HOURS * 3600 * 1000,
      },
    })
  );
  app.use(express.urlencoded({ extended: false, limit: "8kb", parameterLimit: 20 }));
  // Every POST carries the session's token (GETs change nothing and are not checked).
  app.use(csrfSynchronisedProtection);

  function currentUser(req) {
    return (req.session.userId && users.byId(req.session.userId)) || null;
  }

  function page(req, res, status, render, values = {}) {
    const user = currentUser(req);
    res.status(status).set("cache-control", "no-store");
    res.type("html").send(render({ user, csrfToken: generateToken(req), ...values }));
  }

  function problem(req, res, answer) {
    // The service's `detail` is written for the operator (it may name the allowed
    // return URLs): it goes to this server's log; the user gets a sentence and the code.
    const body = answer.body || {};
    console.warn(`miroconnect answered ${answer.status}: ${body.reason || "-"}: ${body.detail || "-"}`);
    page(req, res, answer.status >= 500 ? 502 : answer.status, views.errorPage, {
      title: "Miro could not do that",
      text: USER_TEXT[body.reason] || "Something went wrong on the way to Miro. Try again later.",
      reason: body.reason,
    });
  }

  /* The signed-in user, or a redirect to sign in (and back here after). */
  function signedIn(req, res, next) {
    const user = currentUser(req);
    if (!user) {
      const back = req.method === "GET" ? req.originalUrl : "/";
      res.redirect(303, `/login?next=${encodeURIComponent(back)}`);
      return;
    }
    req.user = user;
    next();
  }

  app.get("/login", (req, res) => {
    if (currentUser(req)) {
      res.redirect(303, "/");
      return;
    }
    page(req, res, 200, views.loginPage, { next: safeNext(req.query.next) });
  });

  app.post("/login", async (req, res) => {
    const user = await users.check(req.body.username || "", req.body.password || "");
    const next = safeNext(req.body.next);
    if (!user) {
      page(req, res, 401, views.loginPage, { next, failed: true });
      return;
    }
    // A new session at sign-in: a session id planted before it is worth nothing after.
    await new Promise((resolve, reject) =>
      req.session.regenerate((error) => (error ? reject(error) : resolve()))
    );
    req.session.userId = user.id;
    generateToken(req, true);
    res.redirect(303, next);
  });

  app.post("/logout", (req, res, next) => {
    req.session.destroy((error) => {
      if (error) {
        next(error);
        return;
      }
      res.clearCookie("example.sid");
      res.redirect(303, "/login");
    });
  });

  app.get("/", signedIn, async (req, res) => {
    const [boards, connection] = await Promise.all([
      service.listBoards(req.user.id),
      service.connection(req.user.id),
    ]);
    if (boards.status !== 200) {
      problem(req, res, boards);
      return;
    }
    const list = boards.body.boards;
    const newBoard = list.find((board) => board.id === req.query.board) || null;
    const status = connection.status === 200 ? connection.body.status : "unknown";
    page(req, res, 200, views.homePage, {
      requestId: newRequestId(),
      boards: list,
      connection: status.replace("_", " "),
      newBoard,
      notice: req.query.connected === "1" ? "Miro is connected." : null,
    });
  });

  app.post("/boards", signedIn, async (req, res) => {
    const name = String(req.body.name || "").trim();
    const requestId = String(req.body.request_id || "");
    if (!name || name.length > BOARD_NAME_MAX || !REQUEST_ID.test(requestId)) {
      page(req, res, 422, views.errorPage, {
        title: "Check the board name",
        text: `A board name is 1 to ${BOARD_NAME_MAX} characters.`,
      });
      return;
    }
    const answer = await service.createBoard(req.user.id, {
      name,
      returnUrl: `${appUrl}/miro/return`,
      // The same rendered form sent twice makes one board.
      idempotencyKey: `node-${requestId}`,
    });
    if (answer.status === 201) {
      res.redirect(303, `/?board=${encodeURIComponent(answer.body.board.id)}`);
    } else if (answer.status === 202 && service.isOurLink(answer.body.authorize_url)) {
      // The user connects Miro first: the service's one-time link, then Miro's consent.
      res.redirect(303, answer.body.authorize_url);
    } else {
      problem(req, res, answer);
    }
  });

  app.get("/miro/return", signedIn, async (req, res) => {
    const { miro_result: result, miro_error: error } = req.query;
    if (typeof result !== "string" || !RESULT.test(result)) {
      page(req, res, 400, views.errorPage, {
        title: "Miro was not connected",
        text: "The consent on Miro did not complete. Try again.",
        reason: typeof error === "string" ? error.slice(0, 64) : "no_result",
      });
      return;
    }
    // Confirm for the user signed in here: the service creates the board only if the
    // flow was started for this user (else it cancels the consent: 403).
    const answer = await service.confirm(req.user.id, result);
    if (answer.status === 201) {
      res.redirect(303, `/?board=${encodeURIComponent(answer.body.board.id)}`);
    } else if (answer.status === 200) {
      res.redirect(303, "/?connected=1");
    } else {
      problem(req, res, answer);
    }
  });

  // eslint-disable-next-line no-unused-vars -- Express knows error handlers by arity
  app.use((error, req, res, next) => {
    if (error.code === "EBADCSRFTOKEN") {
      page(req, res, 403, views.errorPage, {
        title: "This form has expired",
        text: "Go back, reload the page and try again.",
      });
      return;
    }
    const unreachable = error.name === "TimeoutError" || error.name === "TypeError";
    const status = unreachable ? 502 : error.status || error.statusCode || 500;
    // The error's name only: a message or stack could carry what the user sent.
    console.error(`request failed: ${req.method} ${req.path}: ${error.name}`);
    page(req, res, status >= 400 && status < 600 ? status : 500, views.errorPage, {
      title: unreachable ? "miroconnect could not be reached" : "Something went wrong",
      text: unreachable ? "Try again in a moment." : "The request could not be carried out.",
    });
  });

  return app;
}

module.exports = { createApp, safeNext };
