"""What a click does on Miro (create, copy, share a board, add starter content), run
exactly once per idempotency key: `MiroActionRunner` implements `oauth.actions.ActionRunner`.
"""

from __future__ import annotations

from miroconnect.actions.operations import LeaseLostError, Operation, OperationStore
from miroconnect.actions.runner import KINDS, MiroActionRunner

__all__ = ["KINDS", "LeaseLostError", "MiroActionRunner", "Operation", "OperationStore"]
