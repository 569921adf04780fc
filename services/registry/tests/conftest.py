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
from umkm_shared.runtime import ServiceRuntime


@pytest_asyncio.fixture(scope="session")
async def service(
    start_service: Callable[..., Any], keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    async with start_service(
        "registry", MIGRATIONS, lambda url: build(registry_settings(url, keys))
    ) as started:
        yield started


@pytest.fixture
def dinas(app: FastAPI) -> dict[str, str]:
    return mint(app, "dinas", wilayah=BANDUNG)


@pytest.fixture
def ministry(app: FastAPI) -> dict[str, str]:
    return mint(app, "ministry")


@pytest_asyncio.fixture
async def kafka_registry(
    start_service: Callable[..., Any], kafka_bootstrap: str, keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A registry of its own (fresh database) publishing through the real Kafka broker."""
    kafka_settings = {"kafka_bootstrap_servers": kafka_bootstrap}
    async with start_service(
        "registry_kafka",
        MIGRATIONS,
        lambda url: build(registry_settings(url, keys, **kafka_settings)),
    ) as (app, _):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            yield app, c
