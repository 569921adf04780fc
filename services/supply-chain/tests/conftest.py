"""Supply-chain test fixtures: one migrated database per session, the app over the in-process
bus (registry events are published on it), tokens for each kind of actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sc_support import sc_settings

from umkm_shared.db import upgrade
from umkm_shared.devkeys import dev_secrets
from umkm_shared.runtime import ServiceRuntime
from umkm_supply_chain.app import MIGRATIONS, build


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    return dev_secrets()


@pytest_asyncio.fixture(scope="session")
async def sc_db(make_database: Callable[[str], Any]) -> str:
    url: str = await make_database("supply_chain")
    await upgrade(url, MIGRATIONS)
    return url


@pytest_asyncio.fixture(scope="session")
async def service(
    sc_db: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    app, runtime = build(sc_settings(sc_db, keys))
    async with app.router.lifespan_context(app):
        yield app, runtime


@pytest.fixture
def app(service: tuple[FastAPI, ServiceRuntime]) -> FastAPI:
    return service[0]


@pytest.fixture
def runtime(service: tuple[FastAPI, ServiceRuntime]) -> ServiceRuntime:
    return service[1]


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sc.test") as c:
        yield c
