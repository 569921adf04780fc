"""Supply-chain test fixtures: one migrated database per session, the app over the in-process
bus (registry events are published on it), tokens for each kind of actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from fastapi import FastAPI
from sc_support import sc_settings

from umkm_shared.runtime import ServiceRuntime
from umkm_supply_chain.app import MIGRATIONS, build


@pytest_asyncio.fixture(scope="session")
async def service(
    start_service: Callable[..., Any], keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    async with start_service(
        "supply_chain", MIGRATIONS, lambda url: build(sc_settings(url, keys))
    ) as started:
        yield started
