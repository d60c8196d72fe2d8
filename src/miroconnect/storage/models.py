"""Every ORM table of miroconnect, in one module so Alembic sees them all.

`connections` holds one row per (app user, Miro team) with the tokens encrypted
(`miroconnect.crypto`): the ciphertexts are bound to the row id, and `key_id` says which
key wrote them, so `miroconnect keys rotate` finds the rows still under an old key.
`pending_authorizations` holds a started connect flow: only hashes of the state, the
browser-binding cookie and the service-mode launch token are kept. `pending_consents` holds
the tokens of a service-mode consent (encrypted, bound to the row and its owner) until the
host app confirms which of its users finished the flow. `webhook_outbox` holds the events
for the host app's webhook, each written with the change it reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from miroconnect.storage.base import Base
from miroconnect.storage.types import UTCDateTime

__all__ = [
    "ConnectionRow",
    "OperationRow",
    "PacingBudgetRow",
    "PendingAuthorizationRow",
    "PendingConsentRow",
    "ThrottleCounterRow",
    "WebAccountRow",
    "WebhookEventRow",
    "WebSessionRow",
]

# Rows `SQLStore.due_for_maintenance` may pick; its query repeats this predicate literally.
_DUE = "status = 'connected' AND refresh_token_ciphertext IS NOT NULL"


class ConnectionRow(Base):
    """One app user's connection to one Miro team, with its encrypted token pair."""

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("app_user_id", "miro_team_id"),
        CheckConstraint(
            "status IN ('connected', 'needs_reauth', 'removed')", name="status"
        ),
        # The maintenance scan's index holds only the rows it can pick: with a plain index
        # on refresh_issued_at it walked every needs_reauth row (old refresh tokens, kept),
        # 50,000 heap reads and 150 ms at 1M connections with 5 % dead (bench_scale).
        Index(
            "ix_connections_due",
            "refresh_issued_at",
            postgresql_where=text(_DUE),
            sqlite_where=text(_DUE),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_user_id: Mapped[str] = mapped_column(String(255), index=True)
    miro_team_id: Mapped[str] = mapped_column(String(64))
    miro_team_name: Mapped[str | None] = mapped_column(String(255))
    miro_user_id: Mapped[str] = mapped_column(String(64))
    miro_user_name: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(String(255))
    # Key id of both ciphertexts below (they are always written together).
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    access_token_ciphertext: Mapped[str | None] = mapped_column(Text)
    refresh_token_ciphertext: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the current refresh token was issued: Miro's 60 days count from here.
    refresh_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped at every token write; a fencing value for writers that did not hold the lock.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the current grant was made (the latest consent): `created_at` is the first.
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingAuthorizationRow(Base):
    """A connect flow between its start and its callback (10 minutes at most)."""

    __tablename__ = "pending_authorizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # SHA-256 of the state; NULL until a service-mode launch link is opened.
    state_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # SHA-256 of the browser-binding cookie set when the browser was sent to Miro.
    binding_hash: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the one-time service-mode launch token, if the flow has one.
    launch_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    app_user_id: Mapped[str] = mapped_column(String(255))
    action_kind: Mapped[str | None] = mapped_column(String(100))
    action_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    action_idempotency_key: Mapped[str | None] = mapped_column(String(255))
    return_url: Mapped[str] = mapped_column(Text)
    # How a service-mode flow ends: `redirect` (to `return_url`) or `popup` (a page
    # that posts the result to the window that opened it, then closes).
    display: Mapped[str] = mapped_column(String(10), server_default="redirect")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    launch_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingConsentRow(Base):
    """A service-mode consent whose tokens wait for the host app's confirm (10 minutes).

    At the callback the service cannot know which app user the browser belongs to (it has
    no session with it), so the tokens are kept here, unusable, under the SHA-256 of a
    one-time `miro_result` the browser carries back to the host app. The host's backend
    confirms for its signed-in user: `held` -> `confirmed` (the tokens move to
    `connections`), `refused` (another user: revoked at Miro) or `expired`. Tokens are
    deleted as soon as the consent is decided; a `refused`/`expired` row that still has
    them is a revoke not yet done, which `miroconnect maintain` finishes.
    """

    __tablename__ = "pending_consents"
    __table_args__ = (
        CheckConstraint(
            "status IN ('held', 'confirmed', 'refused', 'expired')", name="status"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    result_hash: Mapped[str] = mapped_column(String(64), unique=True)
    flow_id: Mapped[str] = mapped_column(String(32))
    # The app user the flow was started for: only a confirm for this user activates it.
    app_user_id: Mapped[str] = mapped_column(String(255))
    action_kind: Mapped[str | None] = mapped_column(String(100))
    action_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    action_idempotency_key: Mapped[str | None] = mapped_column(String(255))
    miro_user_id: Mapped[str] = mapped_column(String(64))
    miro_user_name: Mapped[str | None] = mapped_column(String(255))
    miro_team_id: Mapped[str] = mapped_column(String(64))
    miro_team_name: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(Text, default="")
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    access_token_ciphertext: Mapped[str | None] = mapped_column(Text)
    refresh_token_ciphertext: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The connection a confirm created or updated (for an idempotent repeat).
    connection_id: Mapped[str | None] = mapped_column(String(32))


# ---------------------------------------------------------------------------------------------
# Models of other layers (e.g. the `operations` table of `miroconnect.actions`) are appended
# below this line, each in its own marked section, so that Alembic sees every table here.
# ---------------------------------------------------------------------------------------------


# -- miroconnect.actions: operations (owned by the actions layer) -----------------------------


class OperationRow(Base):
    """One run of an action (create board, ...), keyed by (app user, idempotency key).

    Written and committed before its request leaves, so a repeat of the key, a double
    click or a crashed worker finds it. `state`: pending -> sent -> done | failed.
    `created_board_id` is unique: two operations can never adopt the same board. A done
    operation with a board is the record of that board: a user's boards are listed from
    here, newest `finished_at` first.
    `lease_owner`/`lease_until` say which worker runs it; an expired lease may be taken over.
    """

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("app_user_id", "idempotency_key"),
        UniqueConstraint("created_board_id"),
        CheckConstraint("state IN ('pending', 'sent', 'done', 'failed')", name="state"),
        Index("ix_operations_user_finished", "app_user_id", "finished_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_user_id: Mapped[str] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    connection_id: Mapped[str] = mapped_column(String(255))
    miro_user_id: Mapped[str] = mapped_column(String(64))
    miro_team_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_board_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When it ended (done or failed); NULL while it runs.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Events `WebhookQueue.claim` may pick; its query repeats this predicate literally.
_UNSENT = "status IN ('pending', 'sending')"


class WebhookEventRow(Base):
    """One event for the host app's webhook (`MIROCONNECT_WEBHOOK_URL`): the outbox.

    Written in the transaction of the change it reports (`miroconnect.storage.outbox`), so
    an event exists exactly when its change was committed. `payload` is the JSON body as
    it is sent, signed at each attempt. `status`: pending -> sending (claimed by a worker
    until `next_attempt_at`, its lease) -> delivered, or back to pending with a later
    `next_attempt_at` after a failed attempt; dead when the retries are spent.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'delivered', 'dead')", name="status"
        ),
        # The worker's claim reads only unsent events, soonest due first; delivered ones
        # (kept for `miroconnect webhooks list` until `maintain` deletes them) stay out.
        Index(
            "ix_webhook_outbox_due",
            "next_attempt_at",
            postgresql_where=text(_UNSENT),
            sqlite_where=text(_UNSENT),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    # Attempts made in the current retry schedule (`webhooks retry` starts a new one).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the last attempt failed (`HTTP 500`, `redirect 302`, `ConnectError`).
    last_error: Mapped[str | None] = mapped_column(String(200))


# -- miroconnect.web: reference-app accounts and boards made through us (owned by the web layer)


class WebAccountRow(Base):
    """A reference-app account: a username and the argon2id hash of its password."""

    __tablename__ = "web_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSessionRow(Base):
    """A reference-app sign-in: the cookie holds a random value, this row its SHA-256.

    Signing out deletes the row, so a copied cookie stops working at once; a session also
    ends at `expires_at` whatever the cookie says.
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("web_accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ThrottleCounterRow(Base):
    """Attempts in the current window for one throttled key (e.g. sign-ins per address).

    One conditional upsert counts an attempt (`miroconnect.storage.throttle`), so every
    process on the database sees the same count. Times are UNIX seconds.
    """

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    window_start: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)


# -- miroconnect.client: shared rate-limit balances (owned by the client layer) ---------------


class PacingBudgetRow(Base):
    """One connection key's Miro credit balance, shared by every process on the database.

    Written only by single conditional statements of `miroconnect.storage.pacing.SQLPacingStore`
    (grant or book credits if they fit; record a reading), so no transaction spans an HTTP
    call. `remaining` is what no process holds yet.
    Times are UNIX seconds, as Miro's `X-RateLimit-Reset` is.
    """

    __tablename__ = "pacing_budgets"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    metered: Mapped[bool] = mapped_column(Boolean, default=True)
    # NULL until a first reading: then one call at a time goes out as a probe.
    credit_limit: Mapped[int | None] = mapped_column(Integer)
    # Credits of the current window not yet booked by any process.
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    reset_at: Mapped[float] = mapped_column(Float, default=0.0)
    # Miro's own `remaining` in the newest reading of this window: it only falls within a
    # window, so a reading with a higher value is older and must not raise the balance.
    seen_remaining: Mapped[int | None] = mapped_column(Integer)
    # Credits booked by calls not yet answered (all processes), and when the last was booked:
    # a crashed process's bookings stop counting once they are older than any call can be.
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    in_flight_at: Mapped[float] = mapped_column(Float, default=0.0)
    # While a probe is out: until when it holds the probe (a crashed prober's lease expires).
    probe_until: Mapped[float | None] = mapped_column(Float)
    # Credits the last statement granted to a process to spend from memory (0: it booked
    # one call): read back through RETURNING, as the grant is computed from the old row.
    last_grant: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
