"""Assemble the vault from settings: database, store, cipher and the Miro OAuth client.

The composition root for the CLI, the web app and the tests: `open_vault(settings)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx2

from miroconnect.config import Settings
from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.oauth.actions import ActionRunner
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.miro import MiroOAuthClient, MiroOAuthConfig
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.repository import SQLStore
from miroconnect.types import Clock, system_clock

__all__ = ["VaultStack", "open_vault"]


@dataclass(frozen=True)
class VaultStack:
    """The database, store, Miro client and vault of one process."""

    db: Database
    store: SQLStore
    consents: SQLConsentStore
    miro: MiroOAuthClient
    vault: TokenVault

    def flow(
        self,
        runner: ActionRunner,
        *,
        allowed_return_urls: Iterable[str] = (),
    ) -> ConnectFlow:
        """The connect flow on this vault, running actions with `runner`."""
        return ConnectFlow(
            store=self.store,
            consents=self.consents,
            vault=self.vault,
            miro=self.miro,
            runner=runner,
            allowed_return_urls=allowed_return_urls,
            clock=self.vault.clock,
        )

    async def aclose(self) -> None:
        """Close HTTP and database connections."""
        await self.miro.aclose()
        await self.db.dispose()


def open_vault(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock = system_clock,
    miro_config: MiroOAuthConfig | None = None,
) -> VaultStack:
    """Build the vault from `settings`; clear `ConfigurationError`s for bad settings.

    `transport` reaches Miro (the emulator in tests); `miro_config` overrides the
    `MIROCONNECT_MIRO_*` settings.
    """
    cipher = TokenCipher(KeyRing.parse(settings.encryption_keys.get_secret_value()))
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    store = SQLStore(db, cipher)
    miro = MiroOAuthClient(
        miro_config or MiroOAuthConfig.from_settings(settings), transport=transport
    )
    return VaultStack(
        db=db,
        store=store,
        consents=SQLConsentStore(db, cipher),
        miro=miro,
        vault=TokenVault(store, miro, clock=clock),
    )
