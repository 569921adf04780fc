"""Clustering test fixtures: one migrated database per test module group, the app over the
in-process bus, and tokens for each kind of actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from clustering_support import settings
from fastapi import FastAPI

from umkm_clustering.app import MIGRATIONS, build
from umkm_shared.runtime import ServiceRuntime


@pytest_asyncio.fixture(scope="session")
async def service(
    start_service: Callable[..., Any], keys: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, ServiceRuntime]]:
    # the worker is driven by the tests (run_pending), not by its background loop
    async with start_service(
        "clustering", MIGRATIONS, lambda url: build(settings(url, keys, run_workers=False))
    ) as started:
        yield started
