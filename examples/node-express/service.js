"use strict";
/*
 * The miroconnect service API, as this app's backend calls it: plain HTTP and JSON with
 * the API key, which never leaves the server. Every answer comes back as
 * { status, body }; errors are RFC 9457 problem documents with a `reason`.
 */

const TIMEOUT_MS = 15000;

class MiroconnectService {
  constructor({ baseUrl, apiKey }) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.origin = new URL(this.baseUrl).origin;
    this.apiKey = apiKey;
  }

  userPath(userId, rest) {
    return `/api/v1/users/${encodeURIComponent(userId)}${rest}`;
  }

  async call(method, path, { body, headers } = {}) {
    const answer = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "error",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await answer.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: answer.status, body: parsed };
  }

  /* 201 { board } when the user is connected, else 202 { authorize_url }. */
  createBoard(userId, { name, returnUrl, idempotencyKey }) {
    return this.call("POST", this.userPath(userId, "/boards"), {
      body: { name, return_url: returnUrl },
      headers: { "idempotency-key": idempotencyKey },
    });
  }

  /* After consent: 201 { board } (the flow's board), or 200 { connection }. */
  confirm(userId, result) {
    return this.call("POST", this.userPath(userId, "/connection/confirm"), {
      body: { result },
    });
  }

  listBoards(userId) {
    return this.call("GET", this.userPath(userId, "/boards?limit=20"));
  }

  connection(userId) {
    return this.call("GET", this.userPath(userId, "/connection"));
  }

  /* The service's `authorize_url` is a link to the service itself: never follow another. */
  isOurLink(url) {
    try {
      return new URL(url).origin === this.origin;
    } catch {
      return false;
    }
  }
}

module.exports = { MiroconnectService };
