"""Financing test fixtures: one migrated database per session, the app over the in-process
bus with its consumers running, a real local webhook receiver, and helpers to onboard banks,
anchors, UMKM and purchase orders through the same events other services publish."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from financing_support import Receiver, World, financing_settings, make_world

from umkm_financing.app import MIGRATIONS, build
from umkm_shared.db import upgrade
from umkm_shared.devkeys import dev_secrets
from umkm_shared.messaging.bus import EventBus
from umkm_shared.runtime import ServiceRuntime


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    return dev_secrets()


@pytest_asyncio.fixture(scope="session")
async def financing_db(make_database: Callable[[str], Any]) -> str:
    url: str = await make_database("financing")
    await upgrade(url, MIGRATIONS)
    return url


@pytest_asyncio.fixture(scope="session")
async def financing(
    financing_db: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    app, runtime = build(financing_settings(financing_db, keys))
    async with app.router.lifespan_context(app):
        yield app, runtime


@pytest.fixture
def app(financing: tuple[FastAPI, ServiceRuntime]) -> FastAPI:
    return financing[0]


@pytest.fixture
def runtime(financing: tuple[FastAPI, ServiceRuntime]) -> ServiceRuntime:
    return financing[1]


@pytest.fixture
def bus(runtime: ServiceRuntime) -> EventBus:
    return runtime.bus


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://financing.test") as c:
        yield c


@pytest_asyncio.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, bus: EventBus) -> World:
    return await make_world(app, client, bus)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
