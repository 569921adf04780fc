"""Clustering test fixtures: one migrated database per test module group, the app over the
in-process bus, and tokens for each kind of actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from clustering_support import settings
from fastapi import FastAPI

from umkm_clustering.app import MIGRATIONS, build
from umkm_shared.db import upgrade
from umkm_shared.devkeys import dev_secrets
from umkm_shared.runtime import ServiceRuntime


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    return dev_secrets()


@pytest_asyncio.fixture(scope="session")
async def clustering_db(make_database: Callable[[str], Any]) -> str:
    url: str = await make_database("clustering")
    await upgrade(url, MIGRATIONS)
    return url


@pytest_asyncio.fixture(scope="session")
async def clustering(
    clustering_db: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    # the worker is driven by the tests (run_pending), not by its background loop
    app, runtime = build(settings(clustering_db, keys, run_workers=False))
    async with app.router.lifespan_context(app):
        yield app, runtime


@pytest.fixture
def app(clustering: tuple[FastAPI, ServiceRuntime]) -> FastAPI:
    return clustering[0]


@pytest.fixture
def runtime(clustering: tuple[FastAPI, ServiceRuntime]) -> ServiceRuntime:
    return clustering[1]


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://clustering.test") as c:
        yield c
