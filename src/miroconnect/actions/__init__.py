"""What a click does on Miro (create, copy, share a board, add starter content), run
exactly once per idempotency key: the typed kinds (`miroconnect.actions.kinds`) and
`MiroActionRunner`, which implements `miroconnect.oauth.pending.ActionRunner`.
"""

from __future__ import annotations

from miroconnect.actions.kinds import (
    ACTIONS,
    Action,
    AddStarterContent,
    CopyBoard,
    CreateBoard,
    ShareBoard,
    parse_action,
)
from miroconnect.actions.runner import MiroActionRunner

__all__ = [
    "ACTIONS",
    "Action",
    "AddStarterContent",
    "CopyBoard",
    "CreateBoard",
    "MiroActionRunner",
    "ShareBoard",
    "parse_action",
]
