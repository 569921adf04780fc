"""OAuth clients (partners, Dinas, internal services): table, migration helpers, repository.

Secrets are 32 random bytes shown once at creation; only a salted scrypt hash is stored
(n=2**13, r=8, p=1: ~30 ms, run in a thread). A fast hash would do for random secrets of this
length; scrypt costs little and keeps a leaked table useless.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from umkm_shared.auth.actor import Actor, ActorKind
from umkm_shared.ids import new_id

TABLE = "oauth_clients"
SECRET_PREFIX = "umkm_cs_"  # lets secret scanners recognise leaked secrets
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**13, 8, 1


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("client_id", sa.Text, primary_key=True),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("actor_kind", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=True),
        sa.Column("wilayah", sa.Text, nullable=True),
        sa.Column("scopes", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _constraints() -> list[sa.CheckConstraint]:
    kinds = ", ".join(f"'{k.value}'" for k in ActorKind)
    return [sa.CheckConstraint(f"actor_kind in ({kinds})", name="ck_oauth_clients_actor_kind")]


def define_auth_tables(metadata: sa.MetaData) -> sa.Table:
    """Add `oauth_clients` to a service's metadata (so autogenerate knows about it)."""
    return sa.Table(TABLE, metadata, *_columns(), *_constraints())


def create_auth_tables(op: Any) -> None:
    """For a service's Alembic migration `upgrade()`: `create_auth_tables(op)`."""
    op.create_table(TABLE, *_columns(), *_constraints())


def drop_auth_tables(op: Any) -> None:
    op.drop_table(TABLE)


_table = define_auth_tables(sa.MetaData())

# ---------------------------------------------------------------------------------------------
# Secret hashing
# ---------------------------------------------------------------------------------------------


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


# Compared against when the client id is unknown, so timing does not reveal which ids exist.
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(32))

# ---------------------------------------------------------------------------------------------
# Repository
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    kind: ActorKind
    actor_id: str | None
    wilayah: str | None
    scopes: frozenset[str]
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def actor(self, scopes: Iterable[str] | None = None) -> Actor:
        """The actor a token for this client represents (`scopes`: the granted subset)."""
        return Actor(
            kind=self.kind,
            client_id=self.client_id,
            actor_id=self.actor_id,
            wilayah=self.wilayah,
            scopes=frozenset(self.scopes if scopes is None else scopes),
        )


def _record(row: sa.Row[Any]) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        kind=ActorKind(row.actor_kind),
        actor_id=row.actor_id,
        wilayah=row.wilayah,
        scopes=frozenset(row.scopes or ()),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


_SELECT = sa.select(*(c for c in _table.c if c.name != "secret_hash"))


class ClientStore:
    """Queries on `oauth_clients` within the caller's session/connection (never commits)."""

    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self.session = session

    async def create_client(
        self,
        *,
        name: str,
        kind: ActorKind | str,
        scopes: Iterable[str] = (),
        actor_id: str | None = None,
        wilayah: str | None = None,
    ) -> tuple[str, str]:
        """Register a client; returns (client_id, plaintext secret). Show the secret once."""
        kind = ActorKind(kind)
        client_id = f"{kind.value}_{new_id().hex}"
        scope_set = frozenset(s for scope in scopes for s in scope.split())
        # Validates the kind/actor_id/wilayah combination the same way tokens will.
        Actor(kind=kind, client_id=client_id, actor_id=actor_id, wilayah=wilayah, scopes=scope_set)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        secret_hash = await asyncio.to_thread(hash_secret, secret)
        await self.session.execute(
            _table.insert().values(
                client_id=client_id,
                secret_hash=secret_hash,
                name=name,
                actor_kind=kind.value,
                actor_id=actor_id,
                wilayah=wilayah,
                scopes=sorted(scope_set),
            )
        )
        return client_id, secret

    async def get(self, client_id: str) -> ClientRecord | None:
        row = (await self.session.execute(_SELECT.where(_table.c.client_id == client_id))).first()
        return _record(row) if row else None

    async def authenticate(self, client_id: str, secret: str) -> ClientRecord | None:
        """The active client with this id and secret, else None (constant-time compare)."""
        row = (
            await self.session.execute(sa.select(_table).where(_table.c.client_id == client_id))
        ).first()
        stored = row.secret_hash if row else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_secret, secret, stored)
        if not ok or row is None or row.disabled_at is not None:
            return None
        return _record(row)

    async def list_clients(self, *, include_disabled: bool = True) -> Sequence[ClientRecord]:
        query = _SELECT.order_by(_table.c.created_at, _table.c.client_id)
        if not include_disabled:
            query = query.where(_table.c.disabled_at.is_(None))
        return [_record(r) for r in (await self.session.execute(query)).all()]

    async def disable(self, client_id: str) -> bool:
        """Disable a client (tokens already issued stay valid until they expire)."""
        result = await self.session.execute(
            _table.update()
            .where(_table.c.client_id == client_id, _table.c.disabled_at.is_(None))
            .values(disabled_at=datetime.now(UTC))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
