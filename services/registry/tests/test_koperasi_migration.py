"""Migration 0004 is reversible on its own branch and leaves the other branches alone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from umkm_registry.app import MIGRATIONS
from umkm_shared.db import alembic_config, upgrade


async def _tables(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE tablename IN ('koperasi', 'koperasi_memberships', 'umkm')"
                )
            )
            return sorted(rows.scalars().all())
    finally:
        await engine.dispose()


async def test_koperasi_migration_downgrades_and_upgrades_again(
    make_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await make_database("koperasi_migration")
    await upgrade(url, MIGRATIONS)
    assert await _tables(url) == ["koperasi", "koperasi_memberships", "umkm"]
    await asyncio.to_thread(command.downgrade, alembic_config(url, MIGRATIONS), "0004-1")
    assert await _tables(url) == ["umkm"]
    await upgrade(url, MIGRATIONS)
    assert await _tables(url) == ["koperasi", "koperasi_memberships", "umkm"]
