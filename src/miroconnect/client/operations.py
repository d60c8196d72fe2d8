"""Which client method makes which of Miro's operations.

Each method that makes a call of Miro's OpenAPI spec carries the spec's `operationId`
(`@operation("create-board")`), so the mapping between the two is read from the code, not
kept beside it: `operation_map(client)` lists it, and the tests compare it with the spec.

```python
operation_map(client)["get-boards"]  # "boards.list"
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["operation", "operation_id", "operation_map"]

F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__miro_operation__"


def operation(operation_id: str) -> Callable[[F], F]:
    """Mark a method as the client's call of the spec operation `operation_id`.

    Methods shared by several item types name it with `{kind}`, filled in from the
    group's `kind` (`"get-{kind}-item"` on `client.cards` is `get-card-item`).
    """

    def mark(method: F) -> F:
        setattr(method, _ATTRIBUTE, operation_id)
        return method

    return mark


def operation_id(method: Callable[..., Any], owner: object = None) -> str | None:
    """The spec operation a method makes, if it is marked. `owner` is the group it is
    called on; a bound method knows its own."""
    found = getattr(method, _ATTRIBUTE, None)
    if not isinstance(found, str):
        return None
    if "{kind}" in found:
        owner = getattr(method, "__self__", owner)
        found = found.format(kind=getattr(owner, "kind", "{kind}"))
    return found


def operation_map(client: object) -> dict[str, str]:
    """`{operationId: "group.method"}` for every marked method of the client's groups
    (`client.boards`, `client.sticky_notes`, ...) and of the client itself."""
    found: dict[str, str] = {}
    owners: list[tuple[str, object]] = [("", client)]
    owners += [(f"{name}.", value) for name, value in vars(client).items()]
    for prefix, owner in owners:
        for name in dir(type(owner)):
            if name.startswith("_"):
                continue
            op = operation_id(getattr(type(owner), name), owner)
            if op is not None:
                if op in found:
                    raise ValueError(f"{op} is made by {found[op]} and {prefix}{name}")
                found[op] = f"{prefix}{name}"
    return found
