"""What the registry's endpoints need at hand, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor
from umkm_shared.crypto import NikVault
from umkm_shared.db import Database
from umkm_shared.messaging.outbox import Outbox

from .service import RegistryService


@dataclass(frozen=True)
class RegistryContext:
    db: Database
    vault: NikVault
    outbox: Outbox

    def service(self, session: AsyncSession, actor: Actor) -> RegistryService:
        return RegistryService(session, actor, self.vault, self.outbox)
