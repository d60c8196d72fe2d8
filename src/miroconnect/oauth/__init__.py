"""The OAuth 2.0 side: authorize URLs, state, the connect flow, token refresh.

Contracts other layers build on live here: `TokenSource` (how the Miro client gets a live access
token) and `PendingAction` / `ActionRunner` (what the flow runs once the user has consented).
"""
