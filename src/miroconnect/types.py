"""Small shared types: the clock and JSON aliases.

Time is always injected: every component that checks an expiry takes a `Clock`, so tests
move time forward without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["Clock", "JSONObject", "system_clock"]

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC `datetime`."""

JSONObject = dict[str, Any]


def system_clock() -> datetime:
    """The real clock: now, in UTC."""
    return datetime.now(UTC)
