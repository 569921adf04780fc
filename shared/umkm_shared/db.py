"""Database access shared by every service: one async engine per service database,
a unit-of-work context, and a programmatic Alembic upgrade.

Services never commit inside repositories or services: the request, consumer handler
or job that opened `Database.transaction()` commits (or rolls back) once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """Accept `postgresql://` or `postgres://` URLs and return the asyncpg form."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername in ("postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """An engine and session factory for one service database."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = async_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on normal exit, rolls back on an exception."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session without an explicit transaction block (reads, or manual commits)."""
        async with self.sessionmaker() as session:
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("select 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(database_url: str, migrations_dir: Path):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return cfg


def upgrade_sync(database_url: str, migrations_dir: Path, revision: str = "heads") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url, migrations_dir), revision)


async def upgrade(database_url: str, migrations_dir: Path, revision: str = "heads") -> None:
    """Run a service's Alembic migrations (in a thread: Alembic's env runs its own loop)."""
    await asyncio.to_thread(upgrade_sync, database_url, migrations_dir, revision)


async def create_database_if_missing(admin_url: str, name: str) -> str:
    """Create database `name` on the server of `admin_url`; return its asyncpg URL."""
    import asyncpg

    admin = make_url(async_url(admin_url))
    socket_dir = admin.query.get("host")  # a Unix-socket URL: ...@/db?host=/run/dir
    conn = await asyncpg.connect(
        user=admin.username,
        password=admin.password,
        host=admin.host or (socket_dir if isinstance(socket_dir, str) else None),
        port=admin.port,
        database=admin.database or "postgres",
    )
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return admin.set(database=name).render_as_string(hide_password=False)
