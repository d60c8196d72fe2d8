/*
 * miroconnect.js: connect a user to Miro in a popup, from a single-page app.
 *
 * Load it from the service (<script src="https://svc.example.com/static/miroconnect.js">);
 * it has no dependencies and defines one global, `miroconnect`.
 *
 *   // In a click handler. Your backend asked the service for the board with
 *   // "display": "popup" and a return_url on this page's origin, and got a 202.
 *   miroconnect.connect(authorizeUrl)
 *     .then(function (answer) {
 *       // answer.miro_result: give it to your backend, which confirms it
 *       // (POST /api/v1/users/{id}/connection/confirm) as after a redirect.
 *     })
 *     .catch(function (error) {
 *       // error.reason: "popup_blocked", "popup_closed", or the flow's miro_error
 *       // (then also error.miro_error), e.g. "access_denied".
 *     });
 *
 * `authorizeUrl` may also be a Promise of it: the popup then opens at once (still inside
 * the click, so no popup blocker stops it) and goes to the link when the promise resolves.
 * Options: `origin`, the service's origin (default: the origin of `authorizeUrl`), the
 * only origin whose message counts; `name` and `features` for `window.open`.
 *
 * Only a message from the popup itself (`event.source`) at the service's origin
 * (`event.origin`) settles the promise: another window, or another site, cannot answer
 * in the service's name. The service posts the result only to the origin of the flow's
 * `return_url`, so this page must be on that origin.
 */
(function (global) {
  "use strict";

  var DEFAULT_FEATURES = "popup=yes,width=600,height=720";
  var CLOSED_GRACE_MS = 400; // a result posted just before the popup closed still counts

  function failure(reason, miroError) {
    var error = new Error(
      miroError ? "Miro was not connected: " + miroError : "miroconnect: " + reason
    );
    error.reason = reason;
    if (miroError) {
      error.miro_error = miroError;
    }
    return error;
  }

  function originOf(url) {
    return new URL(url, global.location.href).origin;
  }

  function connect(authorizeUrl, options) {
    options = options || {};
    var pending = typeof authorizeUrl === "string" ? null : authorizeUrl;
    var popup = global.open(
      pending ? "about:blank" : authorizeUrl,
      options.name || "miroconnect",
      options.features || DEFAULT_FEATURES
    );
    return new Promise(function (resolve, reject) {
      var serviceOrigin = null;
      var watch = null;
      var settled = false;

      function settle(fn, value) {
        if (settled) {
          return;
        }
        settled = true;
        global.removeEventListener("message", onMessage);
        global.clearInterval(watch);
        fn(value);
      }

      function onMessage(event) {
        if (serviceOrigin === null || event.origin !== serviceOrigin) {
          return;
        }
        if (event.source !== popup) {
          return;
        }
        var data = event.data;
        if (!data || typeof data !== "object") {
          return;
        }
        if (typeof data.miro_result === "string" && data.miro_result) {
          settle(resolve, { miro_result: data.miro_result });
        } else if (typeof data.miro_error === "string" && data.miro_error) {
          settle(reject, failure(data.miro_error, data.miro_error));
        }
      }

      function start(url) {
        try {
          serviceOrigin = options.origin ? originOf(options.origin) : originOf(url);
        } catch (error) {
          popup.close();
          settle(reject, failure("invalid_url"));
          return;
        }
        if (pending) {
          popup.location.href = url;
        }
      }

      if (!popup) {
        settle(reject, failure("popup_blocked"));
        return;
      }
      global.addEventListener("message", onMessage);
      watch = global.setInterval(function () {
        if (popup.closed) {
          global.clearInterval(watch);
          global.setTimeout(function () {
            settle(reject, failure("popup_closed"));
          }, CLOSED_GRACE_MS);
        }
      }, 250);
      if (pending) {
        Promise.resolve(pending).then(start, function (error) {
          popup.close();
          settle(reject, error);
        });
      } else {
        start(authorizeUrl);
      }
    });
  }

  global.miroconnect = { connect: connect };
})(window);
