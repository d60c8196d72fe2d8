"""Every error miroconnect raises, under one root.

The tree:

* MiroConnectError
  x ConfigurationError          settings missing or invalid
    + DatabaseNotReadyError       the database's tables are missing or older (db upgrade)
  x CryptoError
    + EncryptionKeyNotFoundError  a ciphertext names a key id that is not configured
    + DecryptionError             the key is there but the ciphertext does not open
  x AuthorizationError          the connect flow failed; `reason` is a stable code
    + StateUnknownError           state missing or never issued (forged)
    + StateReplayedError          state already used
    + StateExpiredError           state older than its 10 minutes
    + BrowserMismatchError        callback in another browser than the one that started
    + UserMismatchError           callback in another app user's session
    + AccessDeniedError           the user refused at Miro (`error=access_denied`)
    + ConsentFailedError          Miro sent another `error=...`
    + CodeMissingError            callback without `code`
    + CodeRejectedError           Miro refused the code (used, expired, wrong client)
    + ExchangeFailedError         Miro could not be reached or failed during the exchange
    + ReturnURLRejectedError      the return URL is neither relative nor allow-listed
    + LaunchUnknownError          service-mode launch link never issued
    + LaunchReplayedError         launch link already used
    + LaunchExpiredError          launch link too old
    + FlowUserMismatchError       a held consent confirmed for another app user (revoked)
    + ResultUnknownError          a `miro_result` that was never issued
    + ResultUsedError             a `miro_result` whose consent was refused or revoked
    + ResultExpiredError          a `miro_result` not confirmed within its 10 minutes
  x ReauthorizationRequiredError  the connection is dead; send the user through consent
  x TokenStorageError           Miro issued a new token pair that the database would not store
  x NotConnectedError           the user has no connection to Miro
  x MiroAPIError                Miro answered with an error (status, code, message)
    + BadRequestError             400: invalid parameters
    + UnauthorizedError           401 even after one refresh
    + ForbiddenError              403: missing scope or no access to the board
    + NotFoundError               404: no such board, member or item (or no access)
    + ConflictError               409
    + RateLimitedError            429 after the client's own waits ran out
    + MiroServerError             5xx after the retries an idempotent call gets
  x MiroTransportError          Miro could not be reached, or the connection broke;
                                `maybe_processed` says whether the request may have run
    + KeySpentNotSentError        a keyed request never reached Miro; its key is spent
  x UsernameTakenError          sign-up chose a username that already has an account
  x SignInRequiredError         a page needs a signed-in account (the reference app redirects)
  x CSRFRejectedError           a form came without a valid CSRF token, or from another site
  x ActionError                 an action (create board, ...) cannot run: bad kind or params
    + ActionFailedError           the operation with this idempotency key already failed
    + LeaseLostError              another worker took the operation over (lease ran out)
    + OperationInProgressError    another worker is still running this idempotency key
    + IdempotencyKeyReusedError   an idempotency key sent again with other parameters
    + OutcomeUnknownError         a keyed request may have run at Miro; never sent again

Messages never contain a token, a code or a secret.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDeniedError",
    "ActionError",
    "ActionFailedError",
    "AuthorizationError",
    "BadRequestError",
    "BrowserMismatchError",
    "CSRFRejectedError",
    "CodeMissingError",
    "CodeRejectedError",
    "ConfigurationError",
    "ConflictError",
    "ConsentFailedError",
    "CryptoError",
    "DatabaseNotReadyError",
    "DecryptionError",
    "EncryptionKeyNotFoundError",
    "ExchangeFailedError",
    "FlowUserMismatchError",
    "ForbiddenError",
    "IdempotencyKeyReusedError",
    "KeySpentNotSentError",
    "LaunchExpiredError",
    "LaunchReplayedError",
    "LaunchUnknownError",
    "LeaseLostError",
    "MiroAPIError",
    "MiroConnectError",
    "MiroServerError",
    "MiroTransportError",
    "NotConnectedError",
    "NotFoundError",
    "OperationInProgressError",
    "OutcomeUnknownError",
    "RateLimitedError",
    "ReauthorizationRequiredError",
    "ResultExpiredError",
    "ResultUnknownError",
    "ResultUsedError",
    "ReturnURLRejectedError",
    "SignInRequiredError",
    "StateExpiredError",
    "StateReplayedError",
    "StateUnknownError",
    "TokenStorageError",
    "UnauthorizedError",
    "UserMismatchError",
    "UsernameTakenError",
]


class MiroConnectError(Exception):
    """The root of every error this package raises."""


class ConfigurationError(MiroConnectError):
    """A setting is missing or invalid; the message names the setting."""


class DatabaseNotReadyError(ConfigurationError):
    """The database has no tables yet, or older ones than this version needs; the
    message names it (password hidden) and says what to do (`miroconnect db upgrade`)."""


class CryptoError(MiroConnectError):
    """Encrypting or decrypting a stored secret failed."""


class EncryptionKeyNotFoundError(CryptoError):
    """A ciphertext was written with a key id that is not in the configured keys."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"encryption key {key_id!r} is not configured "
            "(MIROCONNECT_ENCRYPTION_KEYS): add it back, "
            "or rotate before removing it"
        )
        self.key_id = key_id


class DecryptionError(CryptoError):
    """The key id is known but the ciphertext does not open: wrong key, or a row
    that was altered or moved."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"stored secret does not decrypt with key {key_id!r}: "
            "the key is wrong or the row was altered or moved"
        )
        self.key_id = key_id


class AuthorizationError(MiroConnectError):
    """The OAuth connect flow failed.

    `reason` is a short stable code (`state_expired`, `access_denied`, ...) that pages
    and API errors show, and that metrics count. A failure of `ConnectFlow.complete`
    after the state was consumed carries `app_user_id` (the flow's user), and once the
    browser was verified also `return_url` (where the flow was to end, re-checked
    against the allow-list) and `display` (how: `redirect` or `popup`), so the caller
    can send the user back there. Each subclass's `message` says what happened.
    """

    reason = "authorization_failed"
    # What the error says when raised without a message (pages and API details show
    # it): a class attribute, so that editing a docstring never changes the API's text.
    message = "The connect flow failed."
    app_user_id: str | None = None
    return_url: str | None = None
    display: str = "redirect"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class StateUnknownError(AuthorizationError):
    reason = "state_unknown"
    message = (
        "The callback's state is missing or was never issued: a forged or mangled link."
    )


class StateReplayedError(AuthorizationError):
    reason = "state_replayed"
    message = "The callback's state was already used: a replayed or refreshed callback."


class StateExpiredError(AuthorizationError):
    reason = "state_expired"
    message = "The callback came more than 10 minutes after the flow started."


class BrowserMismatchError(AuthorizationError):
    reason = "browser_mismatch"
    message = (
        "The callback arrived in another browser than the one that started the flow."
    )


class UserMismatchError(AuthorizationError):
    """The callback arrived in the session of another app user than the one who started."""

    reason = "user_mismatch"
    message = (
        "The callback arrived in the session of another app user than the one who "
        "started."
    )


class AccessDeniedError(AuthorizationError):
    reason = "access_denied"
    message = "The user refused (or cancelled) the authorization at Miro."
    error = "access_denied"


class ConsentFailedError(AuthorizationError):
    reason = "consent_failed"
    message = "Miro redirected back with an `error` other than `access_denied`."


class CodeMissingError(AuthorizationError):
    reason = "code_missing"
    message = "The callback carried neither a `code` nor an `error`."


class CodeRejectedError(AuthorizationError):
    reason = "code_rejected"
    message = "Miro refused to exchange the code: already used, expired, or not ours."


class ExchangeFailedError(AuthorizationError):
    """Miro could not be reached, or failed, while the flow exchanged the code or read
    whom the new token belongs to (not to be confused with `MiroServerError` and
    `MiroTransportError`, which are the REST client's)."""

    reason = "miro_unavailable"
    message = (
        "Miro could not be reached, or answered with a server error, during the flow."
    )


class ReturnURLRejectedError(AuthorizationError):
    reason = "return_url_rejected"
    message = "The return URL is neither a plain relative path nor on the allow-list."


class LaunchUnknownError(AuthorizationError):
    reason = "launch_unknown"
    message = "The service-mode launch link was never issued."


class LaunchReplayedError(AuthorizationError):
    reason = "launch_replayed"
    message = (
        "The service-mode launch link was already used (it binds one browser, once)."
    )


class LaunchExpiredError(AuthorizationError):
    reason = "launch_expired"
    message = "The service-mode launch link is older than its 10 minutes."


class FlowUserMismatchError(AuthorizationError):
    """Service mode: the host app confirmed a held consent for another app user than
    the one the flow was started for. The grant is revoked at Miro and nothing is stored."""

    reason = "flow_user_mismatch"
    message = (
        "Service mode: the host app confirmed a held consent for another app user than "
        "the one the flow was started for. The grant is revoked at Miro and nothing is "
        "stored."
    )


class ResultUnknownError(AuthorizationError):
    reason = "result_unknown"
    message = (
        "Service mode: the `miro_result` to confirm was never issued (or was altered)."
    )


class ResultUsedError(AuthorizationError):
    reason = "result_used"
    message = (
        "Service mode: the consent behind this `miro_result` was refused or revoked."
    )


class ResultExpiredError(AuthorizationError):
    reason = "result_expired"
    message = "Service mode: the `miro_result` was not confirmed within its 10 minutes."


class ReauthorizationRequiredError(MiroConnectError):
    """Miro rejected the stored grant; the user must go through consent again."""

    def __init__(
        self, message: str = "the Miro connection must be authorized again"
    ) -> None:
        super().__init__(message)


class TokenStorageError(MiroConnectError):
    """Miro rotated the connection's tokens, but the database would not store the new pair
    even after retries: the database is down. The connection needs consent again if the
    process exits before the database is back."""


class NotConnectedError(MiroConnectError):
    """The app user has no live connection to Miro."""


class MiroAPIError(MiroConnectError):
    """Miro answered with an HTTP error.

    Carries the HTTP `status_code`, Miro's error `code` and `message`, the optional
    `context` and the request id Miro sent, if any.
    """

    def __init__(
        self,
        status_code: int,
        code: str | None,
        message: str,
        *,
        context: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"Miro answered {status_code} {code or ''}: {message}".strip())
        self.status_code = status_code
        self.code = code
        self.message = message
        self.context = context
        self.request_id = request_id


class BadRequestError(MiroAPIError):
    """Miro answered 400 (`invalidParameters`): the request itself is wrong."""


class UnauthorizedError(MiroAPIError):
    """Miro answered 401 to a fresh token too (after the one reactive refresh)."""


class ForbiddenError(MiroAPIError):
    """Miro answered 403: a scope is missing or the user may not touch this board."""


class NotFoundError(MiroAPIError):
    """Miro answered 404: no such board, member or item, or no access to it."""


class ConflictError(MiroAPIError):
    """Miro answered 409."""


class RateLimitedError(MiroAPIError):
    """Miro answered 429 and the client's waits for the credit reset ran out.

    `reset_at` is Miro's `X-RateLimit-Reset` (UNIX seconds) when it was sent.
    """

    reset_at: float | None = None


class MiroServerError(MiroAPIError):
    """Miro answered 5xx (after the retries an idempotent call gets).

    For a call that changes something the outcome is unknown: the work may have been done.
    """


class MiroTransportError(MiroConnectError):
    """Miro could not be reached, timed out, or dropped the connection.

    `maybe_processed` is False only when the request provably never reached Miro (the
    connection could not be opened); otherwise Miro may have done the work.
    """

    def __init__(self, message: str, *, maybe_processed: bool = True) -> None:
        super().__init__(message)
        self.maybe_processed = maybe_processed


class KeySpentNotSentError(MiroTransportError):
    """Miro could not be reached for a request with an idempotency key, which was never
    sent; the key's operation failed for good, so send the request with a new key."""

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_processed=False)


class UsernameTakenError(MiroConnectError):
    """The reference app's sign-up chose a username that already has an account."""


class SignInRequiredError(MiroConnectError):
    """A page needs a signed-in account: the reference app redirects to sign in; a host
    app's `get_current_user_id` may raise it to say nobody is signed in."""


class CSRFRejectedError(MiroConnectError):
    """A form post came without a valid CSRF token, or a browser said it came from
    another site (answered 403, nothing done)."""


class ActionError(MiroConnectError):
    """An action cannot run as asked: unknown kind, or missing or invalid parameters."""


class ActionFailedError(ActionError):
    """The operation with this idempotency key already failed; repeating the key repeats the
    failure (use a new key to try again)."""


class LeaseLostError(ActionError):
    """Another worker took the operation over (this worker's lease ran out)."""


class OperationInProgressError(ActionError):
    """Another worker still holds the operation with this idempotency key: nothing was sent
    for this request. Repeat it with the same key after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdempotencyKeyReusedError(ActionError):
    """An idempotency key already used for an action with other parameters: the first
    request's result belongs to that key (send a new key for a new request)."""


class OutcomeUnknownError(ActionError):
    """A request with this idempotency key reached Miro (or may have) and its answer was
    lost or was a 5xx: whether Miro did it is unknown, and it is not sent again, now or
    for a repeat of the key. Look at Miro (e.g. list what the request would have made)."""
