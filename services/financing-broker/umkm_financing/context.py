"""What the broker's endpoints and handlers need at hand, built once per process."""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.crypto import NikVault
from umkm_shared.db import Database
from umkm_shared.errors import ServiceUnavailable
from umkm_shared.messaging.outbox import Outbox

from .config import Settings
from .models import Bank


class SecretBox:
    """AES-256-GCM for the banks' SNAP signing secrets at rest: key-id length | key id | nonce |
    ciphertext, the header authenticated. Several keys decrypt; the active one encrypts."""

    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError("the active signing-secret key id is not among the keys")
        self._aead = {kid: AESGCM(k) for kid, k in keys.items()}
        self.active = active

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox | None:
        raw = settings.signing_secret_keys or settings.nik_encryption_keys
        active = settings.signing_secret_active_key_id or (
            settings.nik_active_key_id if not settings.signing_secret_keys else None
        )
        if not raw or not active:
            return None
        keys = {kid: base64.b64decode(v.get_secret_value()) for kid, v in raw.items()}
        return cls(keys, active)

    def seal(self, secret: str) -> bytes:
        kid = self.active.encode()
        header = bytes([len(kid)]) + kid
        nonce = os.urandom(12)
        return header + nonce + self._aead[self.active].encrypt(nonce, secret.encode(), header)

    def open(self, blob: bytes) -> str:
        n = blob[0]
        header, kid = blob[: 1 + n], blob[1 : 1 + n].decode()
        nonce, body = blob[1 + n : 13 + n], blob[13 + n :]
        return self._aead[kid].decrypt(nonce, body, header).decode()


@dataclass(frozen=True)
class BankCredentials:
    bank_id: uuid.UUID
    partner_id: str
    signing_secret: str


@dataclass
class FinancingContext:
    db: Database
    outbox: Outbox
    settings: Settings
    box: SecretBox | None
    vault: NikVault | None
    webhooks: Any = None  # umkm_shared.webhooks.Webhooks when wired
    credentials_ttl: float = 30.0
    _credentials: dict[uuid.UUID, tuple[float, BankCredentials | None]] = field(
        default_factory=dict
    )

    def require_box(self) -> SecretBox:
        if self.box is None:
            raise ServiceUnavailable(
                detail="no key to seal signing secrets: set FINANCING_SIGNING_SECRET_KEYS"
            )
        return self.box

    async def bank_credentials(self, bank_id: uuid.UUID) -> BankCredentials | None:
        """The bank's partner id and signing secret (cached for `credentials_ttl` seconds, so
        a suspension takes effect within that time)."""
        if self.box is None:
            return None
        cached = self._credentials.get(bank_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = await self._load_credentials(bank_id)
        self._credentials[bank_id] = (time.monotonic() + self.credentials_ttl, found)
        return found

    async def _load_credentials(self, bank_id: uuid.UUID) -> BankCredentials | None:
        assert self.box is not None
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(Bank.partner_id, Bank.signing_secret_encrypted).where(
                        Bank.id == bank_id, Bank.status == "active"
                    )
                )
            ).first()
        if row is None:
            return None
        return BankCredentials(bank_id, row[0], self.box.open(row[1]))

    async def notify(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: uuid.UUID | str,
        event_type: str,
        payload: dict[str, Any],
        ordering_key: str,
    ) -> None:
        """Queue a webhook to a bank or anchor in the caller's transaction."""
        if self.webhooks is not None:
            await self.webhooks.enqueue(
                session, owner_kind, str(owner_id), event_type, payload, ordering_key=ordering_key
            )
