"""Registry test fixtures: one migrated database per test session, the app over the
in-process bus, and tokens for each kind of actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from registry_support import BANDUNG, mint, registry_settings

from umkm_registry.app import MIGRATIONS, build
from umkm_shared.db import upgrade
from umkm_shared.devkeys import dev_secrets
from umkm_shared.messaging.bus import EventBus
from umkm_shared.runtime import ServiceRuntime


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    return dev_secrets()


@pytest_asyncio.fixture(scope="session")
async def registry_db(make_database: Callable[[str], Any]) -> str:
    url: str = await make_database("registry")
    await upgrade(url, MIGRATIONS)
    return url


@pytest_asyncio.fixture(scope="session")
async def registry(
    registry_db: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    app, runtime = build(registry_settings(registry_db, keys))
    async with app.router.lifespan_context(app):
        yield app, runtime


@pytest.fixture
def app(registry: tuple[FastAPI, ServiceRuntime]) -> FastAPI:
    return registry[0]


@pytest.fixture
def runtime(registry: tuple[FastAPI, ServiceRuntime]) -> ServiceRuntime:
    return registry[1]


@pytest.fixture
def bus(runtime: ServiceRuntime) -> EventBus:
    return runtime.bus


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
        yield c


@pytest.fixture
def dinas(app: FastAPI) -> dict[str, str]:
    return mint(app, "dinas", wilayah=BANDUNG)


@pytest.fixture
def ministry(app: FastAPI) -> dict[str, str]:
    return mint(app, "ministry")


@pytest_asyncio.fixture
async def kafka_registry(
    make_database: Callable[[str], Any], kafka_bootstrap: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A registry of its own (fresh database) publishing through the real Kafka broker."""
    db_url: str = await make_database("registry_kafka")
    await upgrade(db_url, MIGRATIONS)
    app, _ = build(registry_settings(db_url, keys, kafka_bootstrap_servers=kafka_bootstrap))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            yield app, c
