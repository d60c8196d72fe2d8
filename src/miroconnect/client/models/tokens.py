"""What `GET /v1/oauth-token` says about an access token."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from miroconnect.client.models.base import MiroModel
from miroconnect.oauth.params import parse_token_info
from miroconnect.oauth.tokens import MiroIdentity

__all__ = ["NamedRef", "TokenInfo"]


class NamedRef(MiroModel):
    """`{type, name, id}`, as token info shows the team, user and organization."""

    # Ids are strings, but Miro has been seen sending 19-digit ids as numbers (the token
    # endpoint's team_id): read them as the OAuth flow does, as strings.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: str
    name: str | None = None
    type: str | None = None


class TokenInfo(MiroModel):
    """`GET /v1/oauth-token`: whose token this is and what it may do.

    `organization` is optional in practice although the spec requires it.
    """

    type: str | None = None
    organization: NamedRef | None = None
    team: NamedRef
    created_by: NamedRef | None = None
    user: NamedRef
    scopes: list[str] = Field(default_factory=list)

    @property
    def identity(self) -> MiroIdentity:
        """The user, team and scopes as the OAuth flow reads them: the same parsing
        (`miroconnect.oauth.params.parse_token_info`), so both agree on who a token is."""
        return parse_token_info(self.to_wire())
