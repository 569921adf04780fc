"""Financing test fixtures: one migrated database per session, the app over the in-process
bus with its consumers running, a real local webhook receiver, and helpers to onboard banks,
anchors, UMKM and purchase orders through the same events other services publish."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from financing_support import Receiver, World, financing_settings, make_world

from umkm_financing.app import MIGRATIONS, build
from umkm_shared.messaging.bus import EventBus
from umkm_shared.runtime import ServiceRuntime


@pytest_asyncio.fixture(scope="session")
async def service(
    start_service: Callable[..., Any], keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    async with start_service(
        "financing", MIGRATIONS, lambda url: build(financing_settings(url, keys))
    ) as started:
        yield started


@pytest_asyncio.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, bus: EventBus) -> World:
    return await make_world(app, client, bus)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
