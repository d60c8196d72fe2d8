"""Request validation with Miro's limits and enums; failures are 400 invalidParameters."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from miroconnect.emulator.wire import APIError

__all__ = [
    "invalid",
    "opt_bool",
    "opt_enum",
    "opt_number",
    "opt_numeric_string",
    "opt_object",
    "opt_str",
    "query_int",
]


def invalid(field: str, message: str) -> APIError:
    """A 400 naming the offending field, in Miro's bulk-error `context` shape."""
    return APIError(
        400,
        f"Invalid parameter {field}: {message}",
        context={"fields": [{"field": field, "message": message}]},
    )


def opt_object(body: dict[str, Any], key: str, field: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return value


def opt_str(
    body: dict[str, Any],
    key: str,
    field: str,
    *,
    min_length: int = 0,
    max_length: int | None = None,
) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if len(value) < min_length:
        raise invalid(field, f"must be at least {min_length} characters long")
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"must be at most {max_length} characters long")
    return value


def opt_enum(
    body: dict[str, Any], key: str, field: str, allowed: tuple[str, ...]
) -> str | None:
    value = opt_str(body, key, field)
    if value is not None and value not in allowed:
        raise invalid(field, "must be one of " + ", ".join(allowed))
    return value


def opt_bool(body: dict[str, Any], key: str, field: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(field, "must be a boolean")
    return value


def opt_number(
    body: dict[str, Any],
    key: str,
    field: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(field, "must be a number")
    if minimum is not None and value < minimum:
        raise invalid(field, f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise invalid(field, f"must be at most {maximum:g}")
    return float(value)


def opt_numeric_string(
    body: dict[str, Any], key: str, field: str, minimum: float, maximum: float
) -> str | None:
    """Miro types numeric styles as strings ("14", "0.5"); check the range anyway."""
    value = opt_str(body, key, field)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise invalid(field, "must be a number in a string") from None
    if not minimum <= number <= maximum:
        raise invalid(field, f"must be between {minimum:g} and {maximum:g}")
    return value


def query_int(
    request: Request, name: str, default: int, minimum: int, maximum: int | None
) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        raise invalid(name, f"must be between {minimum}{upper}")
    return value
