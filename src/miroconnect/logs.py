"""Structured JSON logs on the stdlib `logging` module, with request ids and no secrets.

Every record becomes one JSON object on one line:

```json
{"ts": "2026-11-28T12:00:00.123Z", "level": "info", "logger": "miroconnect.oauth.flow",
 "event": "flow.completed", "request_id": "3f2a...", "connection_id": "ab12...",
 "app_user_id": "user-1"}
```

`event` is a stable dotted name (what dashboards and alerts match on); the other keys are the
event's fields. Records from other libraries (uvicorn, SQLAlchemy) get `event: "log"` and
their text in `message`.

The API other layers call:

* `get_logger(name)`: a `logging.Logger` (plain stdlib, nothing configured at import).
* `log_event(logger, "flow.completed", connection_id=..., level=logging.INFO)`: one event
  with fields. Pass ids, counts and reasons; never a token, code, state or secret.
* `request_context(request_id)`: a context manager setting the request id of every event
  logged inside it (a `contextvars.ContextVar`, so each asyncio task keeps its own);
  `new_request_id()` makes one, `current_request_id()` reads it.
* `context_fields(**fields)`: fields added to every record logged inside the block, the
  same way (`serve --with-emulator` marks the emulator's server lines `server=emulator`).
* `configure_logging(json=True, level="INFO")`: install the JSON (or plain-text) handler on
  the root logger. Only the edge calls it: the CLI's `main()`, an app factory, a benchmark.
  `configure_logging_from_settings(settings)` does the same from `MIROCONNECT_LOG_FORMAT`
  (`json` | `text`) and `MIROCONNECT_LOG_LEVEL`.
* `uvicorn_log_config(level)`: uvicorn's `log_config` that sends its loggers through the
  handler `configure_logging` installed, so a server writes one format, not uvicorn's
  plain text between the JSON lines.
* `redact(text)`: what the formatter does to every message and field value.

Defense in depth: even if a caller passes a secret by mistake, the formatter redacts what
looks like one before the line is written: Miro token shapes (`eyJ...`), `Bearer x`,
`access_token=`, `refresh_token=`, `code=`, `state=`, `client_secret=` and their JSON forms,
and any field whose name says it holds a secret (`*token`, `*secret*`, `password`, `code`,
`state`, `authorization`, `cookie`). Redaction is a net, not the plan: the plan is not to
log secrets.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from miroconnect.config import Settings

__all__ = [
    "JSONFormatter",
    "REDACTED",
    "TextFormatter",
    "configure_logging",
    "configure_logging_from_settings",
    "context_fields",
    "current_request_id",
    "get_logger",
    "log_event",
    "new_request_id",
    "printable",
    "redact",
    "redact_value",
    "request_context",
    "uvicorn_log_config",
]

REDACTED = "[REDACTED]"

_request_id: ContextVar[str | None] = ContextVar("miroconnect_request_id", default=None)
_context_fields: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "miroconnect_context_fields", default=None
)

# The attribute `log_event` stores its event name and fields under, on the LogRecord.
_EVENT_ATTR = "miroconnect_event"
_FIELDS_ATTR = "miroconnect_fields"
_RESERVED = frozenset({"ts", "level", "logger", "event", "request_id", "message"})

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Miro's tokens and codes start with base64 of `{"miro.origin":` (`eyJ`, as any JWT).
    (re.compile(r"eyJ[A-Za-z0-9_\-.=+/]{8,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 " + REDACTED),
    # key=value in query strings, form bodies and messages.
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|code|state|client_secret|"
            r"password|api_key|launch_token)=[^&\s\"',;]+"
        ),
        r"\1=" + REDACTED,
    ),
    # "key": "value" in JSON bodies (snake and camel case).
    (
        re.compile(
            r"(?i)(\"(?:access_?token|refresh_?token|id_?token|code|state|"
            r"client_?secret|password)\"\s*:\s*)\"[^\"]*\""
        ),
        r"\1" + '"' + REDACTED + '"',
    ),
)

_SECRET_KEY = re.compile(
    r"(?i)(token$|secret|password|passwd|^code$|^state$|authorization|cookie|api_?key)"
)


# All the patterns in one, to tell at once whether `redact` has anything to replace (most
# log strings are ids). Case-insensitive throughout: it may say "maybe" where no pattern
# matches, never "no" where one does.
_MAYBE_SECRET = re.compile(
    "|".join(
        f"(?:{pattern.pattern.removeprefix('(?i)')})" for pattern, _ in _SECRET_PATTERNS
    ),
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact(text: str) -> str:
    """`text` with everything that looks like a secret replaced by `[REDACTED]`."""
    if _MAYBE_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# What most fields are, checked by exact type before the slower `isinstance` walk below.
_PLAIN = frozenset({int, float, bool})


def redact_value(key: str, value: Any) -> Any:
    """A field value made safe to log: secret-named keys are blanked, strings redacted,
    containers walked; other values are kept (and JSON-encoded with `str` as fallback)."""
    if value is None:
        return None
    if _secret_key(key):
        return REDACTED
    kind = type(value)
    if kind is str:
        return redact(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v) for v in value]
    if isinstance(value, bool | int | float):  # their subclasses (an IntEnum, say)
        return value
    return redact(str(value))


def new_request_id() -> str:
    """A fresh request id: 16 random bytes, hex."""
    return secrets.token_hex(16)


def current_request_id() -> str | None:
    """The request id of the running context, if one was set."""
    return _request_id.get()


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Set the request id for every event logged inside the block (and in tasks started
    inside it, which copy the context).

    ```python
    with request_context(request.headers.get("x-request-id")) as rid:
        response.headers["x-request-id"] = rid
    ```

    A missing id, or one that is not a short token of letters, digits and `-_.:`, is
    replaced by a fresh one: request ids come from clients and end up in log lines.
    """
    if not request_id or not re.fullmatch(r"[A-Za-z0-9_.:\-]{1,100}", request_id):
        request_id = new_request_id()
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


@contextmanager
def context_fields(**fields: Any) -> Iterator[None]:
    """Add `fields` to every record logged inside the block (and in tasks started inside
    it); a record's own fields of the same name win."""
    token = _context_fields.set({**(_context_fields.get() or {}), **fields})
    try:
        yield
    finally:
        _context_fields.reset(token)


def get_logger(name: str) -> logging.Logger:
    """The stdlib logger `name` (for symmetry; nothing is configured here)."""
    return logging.getLogger(name)


def log_event(
    logger: logging.Logger, event: str, /, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log one structured event: a dotted name and its fields.

    ```python
    log_event(logger, "vault.refresh.succeeded", connection_id=cid)
    log_event(logger, "flow.failed", level=logging.WARNING, reason="state_replayed")
    ```

    Fields are ids, counts, durations and reasons. Never a token, code, state or secret:
    the formatter would redact them, but that is the last line of defense, not the first.
    """
    if logger.isEnabledFor(level):
        # No source location (findCaller walks the stack on every record): the event's
        # name and its logger say where it comes from.
        record = logger.makeRecord(
            logger.name,
            level,
            "(unknown file)",
            0,
            event,
            (),
            None,
            extra={_EVENT_ATTR: event, _FIELDS_ATTR: fields},
        )
        logger.handle(record)


def _record_fields(record: logging.LogRecord) -> tuple[str, str | None, dict[str, Any]]:
    """(event, message or None, fields) of a record, all redacted."""
    event = getattr(record, _EVENT_ATTR, None)
    raw: Mapping[str, Any] = getattr(record, _FIELDS_ATTR, None) or {}
    added = _context_fields.get()
    if added:  # only inside `context_fields`: no new dict per record elsewhere
        raw = {**added, **raw}
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        # A field may not overwrite the envelope: keep it under a prefixed name.
        name = f"field_{key}" if key in _RESERVED else key
        fields[name] = redact_value(key, value)
    if event is not None:
        return str(event), None, fields
    try:
        message = record.getMessage()
    except Exception:  # a bad %-format in someone's log call must not kill logging
        message = str(record.msg)
    return "log", redact(message), fields


# One encoder for every line (`json.dumps` with options builds a new one per call).
_ENCODER = jsonlib.JSONEncoder(default=str, ensure_ascii=False)


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """`2026-11-28T12:00:00` for a Unix second: the part of a timestamp that lines logged
    in the same second share."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond, `2026-11-28T12:00:00.123Z`."""
    second = int(created)
    # To the microsecond first, as `datetime.fromtimestamp` does, then cut to milliseconds.
    micros = round((created - second) * 1_000_000)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    return f"{_utc_second(second)}.{micros // 1000:03d}Z"


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, request_id, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        event, message, fields = _record_fields(record)
        out: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
            "request_id": current_request_id(),
        }
        if message is not None:
            out["message"] = message
        out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            out["error_type"] = record.exc_info[0].__name__
            out["traceback"] = redact(self.formatException(record.exc_info))
        return _ENCODER.encode(out)


# Control characters (a NUL, an escape sequence, a line break; C1's single-byte CSI
# too) in a logged or printed value: a request path, a header or a Miro user's name can
# carry them, and on a terminal they would act.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with each control character written as `\\xNN`."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


class TextFormatter(logging.Formatter):
    """Human-readable lines for development, redacted the same way; control characters
    in what was logged are escaped (JSON lines escape them by themselves)."""

    def format(self, record: logging.LogRecord) -> str:
        event, message, fields = _record_fields(record)
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        parts = [f"{ts} {record.levelname:<7} {printable(event)}"]
        if message is not None:
            parts.append(printable(message))
        parts.extend(f"{key}={printable(str(value))}" for key, value in fields.items())
        rid = current_request_id()
        if rid:
            parts.append(f"request_id={rid}")
        line = " ".join(parts)
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


_HANDLER_NAME = "miroconnect"


def _level(name: str) -> int:
    numeric = logging.getLevelName(name.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {name!r}")
    return numeric


def configure_logging(
    *,
    json: bool = True,
    level: str = "INFO",
    library_level: str = "WARNING",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record to `stream` (stderr by default), one JSON object per line.

    `level` applies to miroconnect's own loggers; other libraries (Alembic, SQLAlchemy,
    httpx2) log at `library_level` or above, whichever is higher, so their chatter does not
    drown the events. Call it once, at the edge (CLI `main()`, app factory); calling it
    again replaces the handler it installed before, and leaves other handlers alone.
    Returns the handler. Raises `ValueError` for an unknown level name.
    """
    numeric = _level(level)
    libraries = max(numeric, _level(library_level))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JSONFormatter() if json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(libraries)
    logging.getLogger("miroconnect").setLevel(numeric)
    return handler


def configure_logging_from_settings(
    settings: Settings | None = None, *, stream: TextIO | None = None
) -> logging.Handler:
    """`configure_logging` from `settings.log_format` and `settings.log_level` (read from
    the environment when `settings` is None).

    Never fails: unreadable settings or an unknown level fall back to JSON at INFO, and the
    fallback is logged as `logging.misconfigured`, so a typo cannot silence the logs.
    """
    problem: str | None = None
    json_format, level = True, "INFO"
    try:
        if settings is None:
            from miroconnect.config import Settings

            settings = Settings()
        json_format = settings.log_format.strip().lower() != "text"
        level = settings.log_level
        handler = configure_logging(json=json_format, level=level, stream=stream)
    except Exception as exc:  # a bad setting must not stop the program from starting
        problem = type(exc).__name__
        handler = configure_logging(json=json_format, level="INFO", stream=stream)
    if problem is not None:
        log_event(
            logging.getLogger(__name__),
            "logging.misconfigured",
            level=logging.WARNING,
            error_type=problem,
            hint="check MIROCONNECT_LOG_FORMAT and MIROCONNECT_LOG_LEVEL",
        )
    return handler


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers keep no handler of their own and pass their
    records to the root logger, where `configure_logging` put ours (JSON or text).

    `uvicorn.error` (startup, shutdown, worker processes) logs at `level`; the access log
    only warnings (`miroconnect serve` turns it off: it would write raw URLs, and Miro's
    callback carries the one-time code in its query). Existing loggers are left alone.
    """
    own = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {**own, "level": _level_name(level)},
            "uvicorn.error": {**own, "level": _level_name(level)},
            "uvicorn.access": {**own, "level": "WARNING"},
        },
    }


def _level_name(name: str) -> str:
    """`name` upper-cased, INFO when it is not a level (as `configure_logging_from_settings`
    falls back)."""
    try:
        _level(name)
    except ValueError:
        return "INFO"
    return name.upper()
