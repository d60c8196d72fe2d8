"""What each failure of the connect flow means to a person: what happened, what to do.

Keys are the stable `reason` codes of `miroconnect.errors.AuthorizationError` leaves, plus
a few of the web layer's own (`action_failed`, `miro_error`, `not_found`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FailureText", "failure_text", "known_reasons"]


@dataclass(frozen=True)
class FailureText:
    """The error page of one failure reason."""

    title: str
    happened: str
    todo: str


_START_AGAIN = "Go back to the app and click “Create board on Miro” again."

_TEXTS: dict[str, FailureText] = {
    "access_denied": FailureText(
        "You cancelled on Miro",
        "Miro says the connection was not approved, so nothing was created.",
        "To create the board, click “Create board on Miro” again and choose "
        "“Install & authorize” on Miro's page.",
    ),
    "consent_failed": FailureText(
        "Miro could not complete the approval",
        "Miro sent back an error instead of an approval.",
        _START_AGAIN + " If it keeps failing, the app may be misconfigured on Miro.",
    ),
    "state_unknown": FailureText(
        "This approval link is not valid",
        "The link that brought you here was not started by this app, or was altered.",
        _START_AGAIN,
    ),
    "state_replayed": FailureText(
        "This approval was already used",
        "Miro's approval page was sent a second time, after the app had already "
        "finished with it: the browser's Back button leads there, and so does "
        "refreshing. The first time counted; nothing was done twice.",
        "Go back to the app: if the board was created it is in your list. To connect "
        "again, use the app's buttons, not Back.",
    ),
    "state_expired": FailureText(
        "The approval took too long",
        "More than 10 minutes passed between leaving the app and coming back.",
        _START_AGAIN,
    ),
    "browser_mismatch": FailureText(
        "Finished in another browser",
        "The approval was started in a different browser (or its cookies were "
        "cleared), so it was not accepted here.",
        "Start again in the browser you want to use, and finish in the same one.",
    ),
    "user_mismatch": FailureText(
        "Started by another account",
        "The approval was started while another account was signed in.",
        "Sign in with the account you want to connect, then start again.",
    ),
    "code_missing": FailureText(
        "Miro's answer was incomplete",
        "Miro came back without an approval code.",
        _START_AGAIN,
    ),
    "code_rejected": FailureText(
        "Miro did not accept the approval",
        "The approval code was refused by Miro (it may have expired or been used).",
        _START_AGAIN,
    ),
    "miro_unavailable": FailureText(
        "Miro could not be reached",
        "Miro did not answer, or answered with an error, while finishing the "
        "connection. Nothing was saved.",
        "Wait a minute, then " + _START_AGAIN[0].lower() + _START_AGAIN[1:],
    ),
    "return_url_rejected": FailureText(
        "Unknown destination",
        "The app asked to send you to an address it is not allowed to use.",
        "Go back to the app and try again; tell its owner if this persists.",
    ),
    "launch_unknown": FailureText(
        "This link is not valid",
        "The connect link was not issued by this service, or was altered.",
        "Go back to the app and start again.",
    ),
    "launch_replayed": FailureText(
        "This link was already used",
        "Each connect link works once.",
        "Go back to the app and start again.",
    ),
    "launch_expired": FailureText(
        "This link has expired",
        "The connect link was opened too late.",
        "Go back to the app and start again.",
    ),
    "flow_user_mismatch": FailureText(
        "Started for another account",
        "This Miro approval was started for a different account of the app, so it "
        "was not used, and the access Miro granted was given back.",
        "If you meant to connect your own account, click “Create board on Miro” in "
        "the app while signed in as yourself. Never follow such a link sent by "
        "someone else.",
    ),
    "result_unknown": FailureText(
        "This approval is not known",
        "The app sent back an approval that was not issued, or was altered.",
        _START_AGAIN,
    ),
    "result_used": FailureText(
        "This approval was refused",
        "This approval was already refused (it was confirmed for another account), "
        "and Miro's access was given back.",
        _START_AGAIN,
    ),
    "result_expired": FailureText(
        "The approval was not confirmed in time",
        "The app did not confirm the Miro approval within 10 minutes, so it was "
        "given back to Miro.",
        _START_AGAIN,
    ),
    "action_failed": FailureText(
        "The board could not be created",
        "Your Miro account is connected, but Miro refused or failed to create the "
        "board.",
        "Try again in a moment; if it keeps failing, check the board name.",
    ),
    "miro_error": FailureText(
        "Miro answered with an error",
        "Miro could not be reached or refused the request.",
        "Try again in a moment.",
    ),
    "invalid_board_name": FailureText(
        "That board name cannot be used",
        "A board name must have 1 to 60 characters, without line breaks.",
        "Go back and type another name.",
    ),
    "csrf_rejected": FailureText(
        "This form has expired",
        "The form was sent without its security token (or from another site), "
        "so nothing was done.",
        "Go back, reload the page, and send the form again.",
    ),
    "body_too_large": FailureText(
        "That was too much to send",
        "The form sent more data than this app accepts, so nothing was read or done.",
        "Go back and send the form again, without attachments.",
    ),
    "invalid_request": FailureText(
        "That request could not be understood",
        "Something in the address or the form was missing or malformed.",
        "Go back to the home page and try again.",
    ),
    "vault_key_error": FailureText(
        "The app cannot read its saved Miro connection",
        "A saved connection could not be decrypted with the app's keys. Nothing was "
        "sent to Miro.",
        "Tell the app's owner: its encryption keys (MIROCONNECT_ENCRYPTION_KEYS) do "
        "not match its database.",
    ),
    "database_not_ready": FailureText(
        "The app's database is not set up",
        "Its tables are missing, or older than this version of the app needs. Nothing "
        "was sent to Miro.",
        "Tell the app's owner: run `miroconnect db upgrade` on its database.",
    ),
    "internal": FailureText(
        "Something went wrong on our side",
        "The app hit an unexpected error; nothing was done twice, and no secret was shown.",
        "Try again in a moment; if it persists, tell the app's owner the time it happened.",
    ),
    "not_found": FailureText(
        "Page not found",
        "There is nothing at this address.",
        "Go back to the home page.",
    ),
}

_FALLBACK = FailureText(
    "The connection to Miro failed",
    "Something went wrong while connecting to Miro; nothing was saved.",
    _START_AGAIN,
)


def failure_text(reason: str) -> FailureText:
    """The page text for `reason` (a generic text for reasons not listed)."""
    return _TEXTS.get(reason, _FALLBACK)


def known_reasons() -> frozenset[str]:
    """Every reason with a page of its own."""
    return frozenset(_TEXTS)
