"use strict";
/*
 * The pages, as template literals. `html` escapes every value put into it (escape-html)
 * unless it is already a page fragment made by `html`: what users type, and what the
 * service answers, can never become markup.
 */

const escapeHtml = require("escape-html");

class Fragment {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

function render(value) {
  if (value instanceof Fragment) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return value.map(render).join("");
  }
  if (value === null || value === undefined || value === false) {
    return "";
  }
  return escapeHtml(String(value));
}

function html(strings, ...values) {
  let text = strings[0];
  values.forEach((value, i) => {
    text += render(value) + strings[i + 1];
  });
  return new Fragment(text);
}

function layout({ title, user, csrfToken }, main) {
  return html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${title} · Node example</title>
  <link rel="stylesheet" href="/app.css">
</head>
<body>
  <header>
    <strong>Node example</strong>
    ${
      user
        ? html`<form method="post" action="/logout" class="inline">
      <input type="hidden" name="_csrf" value="${csrfToken}">
      <span>${user.name}</span> <button type="submit">Sign out</button>
    </form>`
        : ""
    }
  </header>
  <main>${main}</main>
</body>
</html>`.text;
}

function loginPage({ csrfToken, next, failed }) {
  return layout(
    { title: "Sign in" },
    html`<h1>Sign in</h1>
    ${failed ? html`<p class="error" role="alert">Wrong username or password.</p>` : ""}
    <form method="post" action="/login">
      <input type="hidden" name="_csrf" value="${csrfToken}">
      <input type="hidden" name="next" value="${next}">
      <label>Username <input name="username" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <button type="submit">Sign in</button>
    </form>`
  );
}

function boardItem(board, newId) {
  const link = board.view_link ? html` <a href="${board.view_link}">Open in Miro</a>` : "";
  const mark = board.id === newId ? html` <em>new</em>` : "";
  return html`<li data-board-id="${board.id}">${board.name}${mark}${link}</li>`;
}

function homePage({ user, csrfToken, requestId, boards, connection, newBoard, notice }) {
  const created = newBoard
    ? html`<p class="notice" role="status">Board created on Miro: <strong>${newBoard.name}</strong></p>`
    : "";
  return layout(
    { title: "Boards", user, csrfToken },
    html`${created}${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
    <h1>Your boards</h1>
    <p id="connection">Miro: ${connection}</p>
    <form method="post" action="/boards">
      <input type="hidden" name="_csrf" value="${csrfToken}">
      <input type="hidden" name="request_id" value="${requestId}">
      <label>Board name <input name="name" maxlength="60" required></label>
      <button type="submit">Create board on Miro</button>
    </form>
    <ul id="boards">${boards.map((board) => boardItem(board, newBoard && newBoard.id))}</ul>`
  );
}

function errorPage({ user, csrfToken, title, text, reason }) {
  return layout(
    { title, user, csrfToken },
    html`<h1>${title}</h1>
    <p class="error" role="alert">${text}</p>
    ${reason ? html`<p>Reference: <code>${reason}</code></p>` : ""}
    <p><a href="/">Back to your boards</a></p>`
  );
}

module.exports = { errorPage, homePage, loginPage };
