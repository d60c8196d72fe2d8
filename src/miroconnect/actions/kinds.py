"""What a click can ask of Miro, one typed model per kind.

The same model checks the reference app's form, the service API's body (its OpenAPI
schema is built from it) and the runner's input, so a limit such as Miro's 60 characters
for a board name is written once. The connect flow carries an action through consent as a
`PendingAction` (kind, JSON parameters, idempotency key): `action.pending(key)` makes one,
`parse_action(pending)` reads it back, refusing what does not validate.

```python
board = CreateBoard(name="Sprint 12")
await runner.run(board.pending("click-123"), context)
```
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from miroconnect.errors import ActionError
from miroconnect.oauth.pending import PendingAction

__all__ = [
    "ACTIONS",
    "Action",
    "AddStarterContent",
    "BoardAction",
    "CopyBoard",
    "CreateBoard",
    "ShareBoard",
    "StarterContent",
    "parse_action",
]

# One line of text: no control characters (no line breaks, tabs, NULs).
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
BoardName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=60,
        pattern=_ONE_LINE,
        description="The board's name: 1 to 60 characters, one line (Miro's limit).",
    ),
]
BoardDescription = Annotated[
    str,
    Field(max_length=300, pattern=_ONE_LINE, description="At most 300 characters."),
]
BoardId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s/?#]+$")]
NoteText = Annotated[str, Field(min_length=1, max_length=6000)]
FrameTitle = Annotated[str, Field(min_length=1, max_length=200, pattern=_ONE_LINE)]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
]


class Action(BaseModel):
    """One kind of action; subclasses set `kind` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    # Fields a subclass adds that are not the action's (a request's, say): never params.
    not_params: ClassVar[frozenset[str]] = frozenset()

    def pending(self, idempotency_key: str | None = None) -> PendingAction:
        """This action as the flow carries it through consent."""
        params = self.model_dump(
            mode="json",
            exclude_none=True,
            exclude_defaults=True,
            exclude=set(self.not_params),
        )
        return PendingAction(self.kind, params, idempotency_key=idempotency_key)


class StarterContent(Action):
    """Starter content: a few sticky notes, and a frame if titled."""

    starter_content: bool = Field(
        False, description="Add starter sticky notes to the new board."
    )
    notes: tuple[NoteText, ...] | None = Field(
        None, max_length=20, description="The notes' texts (default: three starters)."
    )
    frame_title: FrameTitle | None = None

    @property
    def wants_content(self) -> bool:
        """Whether any starter content was asked for."""
        return bool(self.starter_content or self.notes or self.frame_title)


class CreateBoard(StarterContent):
    """Create a board in the user's team (Miro's `POST /v2/boards`)."""

    kind: ClassVar[str] = "create_board"

    name: BoardName
    description: BoardDescription | None = None


class CopyBoard(StarterContent):
    """Copy a template board into the user's team (`PUT /v2/boards?copy_from=`)."""

    kind: ClassVar[str] = "copy_board"

    template_board_id: BoardId
    name: BoardName


class ShareBoard(Action):
    """Invite people to a board by email (`POST /v2/boards/{id}/members`)."""

    kind: ClassVar[str] = "share_board"

    board_id: BoardId
    emails: tuple[Email, ...] = Field(min_length=1, max_length=20)
    role: Literal["viewer", "commenter", "editor", "coowner", "owner"] = "commenter"


class AddStarterContent(StarterContent):
    """Add starter sticky notes (and a frame) to an existing board."""

    kind: ClassVar[str] = "add_starter_content"

    board_id: BoardId


BoardAction = CreateBoard | CopyBoard
ACTIONS: dict[str, type[Action]] = {
    model.kind: model
    for model in (CreateBoard, CopyBoard, ShareBoard, AddStarterContent)
}


def parse_action(pending: PendingAction) -> Action:
    """The typed action a `PendingAction` carries; `ActionError` saying what is wrong."""
    model = ACTIONS.get(pending.kind)
    if model is None:
        raise ActionError(
            f"unknown action {pending.kind!r}; known: {', '.join(sorted(ACTIONS))}"
        )
    try:
        return model.model_validate(dict(pending.params))
    except ValidationError as exc:
        raise ActionError(f"{pending.kind}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    error: dict[str, Any] = dict(exc.errors()[0])
    where = ".".join(str(part) for part in error.get("loc", ())) or "parameters"
    return f"{where!r} {error.get('msg', 'is invalid')}"
