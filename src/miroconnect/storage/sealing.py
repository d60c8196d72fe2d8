"""Tokens at rest: how a row's token pair is sealed (encrypted) and opened.

Two tables hold token pairs: `connections` and `pending_consents` (a service-mode consent
waiting for the host's confirm). Each ciphertext is AES-256-GCM (`miroconnect.crypto`)
with *associated data* naming the table, the row, its owner (app user, Miro user, team)
and the field. GCM authenticates it, so a ciphertext copied to another row or field, or a
row re-pointed to another app user, Miro user or team, fails to open
(`DecryptionError`) instead of handing one user's Miro access to another.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Protocol

from miroconnect.crypto import TokenCipher
from miroconnect.oauth.tokens import TokenSet
from miroconnect.storage.models import ConnectionRow, PendingConsentRow

__all__ = [
    "ConnectionFields",
    "SealedRow",
    "associated_data",
    "open_tokens",
    "reseal",
    "seal_tokens",
]

SealedRow = ConnectionRow | PendingConsentRow
_FIELDS = ("access_token", "refresh_token")


class ConnectionFields(Protocol):
    """A `connections` row as read: its ORM object, or a result row of its columns
    (`SQLStore.user_tokens` reads the hot path's without building an ORM object)."""

    @property
    def id(self) -> str: ...
    @property
    def app_user_id(self) -> str: ...
    @property
    def miro_user_id(self) -> str: ...
    @property
    def miro_team_id(self) -> str: ...
    @property
    def miro_user_name(self) -> str | None: ...
    @property
    def miro_team_name(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def status_reason(self) -> str | None: ...
    @property
    def scopes(self) -> str: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def access_token_ciphertext(self) -> str | None: ...
    @property
    def refresh_token_ciphertext(self) -> str | None: ...
    @property
    def access_expires_at(self) -> datetime | None: ...
    @property
    def refresh_issued_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def connected_at(self) -> datetime | None: ...


def associated_data(row: SealedRow | ConnectionFields, field: str) -> bytes:
    """What a ciphertext of `row` is bound to: table, row id, owner and field.

    A JSON array, so no value can run into the next (an app user id may hold `:`).
    Revision 0006 wrote the `connections` format out literally: keep them in step.
    A result row (not an ORM object) is a `connections` row: no other table's rows
    are read that way.
    """
    table = (
        row.__tablename__
        if isinstance(row, ConnectionRow | PendingConsentRow)
        else ConnectionRow.__tablename__
    )
    return _associated_data(
        table, row.id, row.app_user_id, row.miro_user_id, row.miro_team_id, field
    )


@functools.lru_cache(maxsize=4096)
def _associated_data(
    table: str,
    row_id: str,
    app_user_id: str,
    miro_user_id: str | None,
    miro_team_id: str | None,
    field: str,
) -> bytes:
    """`associated_data`'s bytes, kept for the rows in use (ids only, no secret): every
    board opens its connection's tokens, and the JSON is the same each time."""
    values: list[str | None] = [f"miroconnect.{table}.v2", row_id, app_user_id]
    values += [miro_user_id, miro_team_id, field]
    return json.dumps(values, separators=(",", ":")).encode()


def open_tokens(
    cipher: TokenCipher, row: SealedRow | ConnectionFields
) -> TokenSet | None:
    """The row's token pair, decrypted; `None` when it holds none (deleted).

    Raises `DecryptionError` / `EncryptionKeyNotFoundError` (a `CryptoError`).
    """
    if row.access_token_ciphertext is None:
        return None
    access = cipher.decrypt(
        row.access_token_ciphertext,
        associated_data=associated_data(row, "access_token"),
    )
    refresh = None
    if row.refresh_token_ciphertext is not None:
        refresh = cipher.decrypt(
            row.refresh_token_ciphertext,
            associated_data=associated_data(row, "refresh_token"),
        )
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_at=row.access_expires_at,
        scopes=tuple(row.scopes.split()),
        team_id=row.miro_team_id,
        user_id=row.miro_user_id,
    )


def seal_tokens(cipher: TokenCipher, row: SealedRow, tokens: TokenSet) -> None:
    """Encrypt `tokens` into `row` under the primary key. Set the owner columns first:
    they are part of what the ciphertexts are bound to."""
    row.access_token_ciphertext = cipher.encrypt(
        tokens.access_token, associated_data=associated_data(row, "access_token")
    )
    row.refresh_token_ciphertext = None
    if tokens.refresh_token is not None:
        row.refresh_token_ciphertext = cipher.encrypt(
            tokens.refresh_token,
            associated_data=associated_data(row, "refresh_token"),
        )
    row.key_id = cipher.primary_key_id
    row.access_expires_at = tokens.expires_at
    if tokens.scopes:
        row.scopes = " ".join(tokens.scopes)


def reseal(cipher: TokenCipher, row: SealedRow) -> None:
    """Re-encrypt the row's ciphertexts under the primary key (key rotation)."""
    for field in _FIELDS:
        ciphertext = getattr(row, f"{field}_ciphertext")
        if ciphertext is None:
            continue
        aad = associated_data(row, field)
        plaintext = cipher.decrypt(ciphertext, associated_data=aad)
        setattr(
            row,
            f"{field}_ciphertext",
            cipher.encrypt(plaintext, associated_data=aad),
        )
    row.key_id = cipher.primary_key_id if row.access_token_ciphertext else None
