"""The embedded composition root: the four services in one process, over one in-process bus.

This is the only module that imports every service. Each service keeps its own database on the
one embedded PostgreSQL server, its own migrations and its own app, mounted under its prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import make_url

from umkm_clustering.app import MIGRATIONS as CLUSTERING_MIGRATIONS
from umkm_clustering.app import build as build_clustering
from umkm_clustering.config import Settings as ClusteringSettings
from umkm_financing.app import MIGRATIONS as FINANCING_MIGRATIONS
from umkm_financing.app import build as build_financing
from umkm_financing.config import Settings as FinancingSettings
from umkm_registry.app import MIGRATIONS as REGISTRY_MIGRATIONS
from umkm_registry.app import build as build_registry
from umkm_registry.config import RegistrySettings
from umkm_shared.db import async_url, create_database_if_missing, upgrade
from umkm_shared.messaging.inprocess import InProcessBus
from umkm_shared.runtime import ServiceRuntime
from umkm_shared.settings import ServiceSettings
from umkm_shared.web import run_lifespans
from umkm_supply_chain.app import MIGRATIONS as SUPPLY_CHAIN_MIGRATIONS
from umkm_supply_chain.app import build as build_supply_chain
from umkm_supply_chain.config import Settings as SupplyChainSettings


@dataclass(frozen=True)
class ServiceSpec:
    prefix: str
    database: str
    settings_cls: type[ServiceSettings]
    migrations: Path
    build: Callable[..., tuple[FastAPI, ServiceRuntime]]


SERVICES = (
    ServiceSpec(
        "/registry", "umkm_registry", RegistrySettings, REGISTRY_MIGRATIONS, build_registry
    ),
    ServiceSpec(
        "/clustering",
        "umkm_clustering",
        ClusteringSettings,
        CLUSTERING_MIGRATIONS,
        build_clustering,
    ),
    ServiceSpec(
        "/financing", "umkm_financing", FinancingSettings, FINANCING_MIGRATIONS, build_financing
    ),
    ServiceSpec(
        "/supply-chain",
        "umkm_supply_chain",
        SupplyChainSettings,
        SUPPLY_CHAIN_MIGRATIONS,
        build_supply_chain,
    ),
)


def database_url(server_url: str, name: str) -> str:
    return make_url(async_url(server_url)).set(database=name).render_as_string(hide_password=False)


async def prepare_databases(server_url: str) -> None:
    """Create each service's database when missing and migrate it to head."""
    for spec in SERVICES:
        await create_database_if_missing(server_url, spec.database)
        await upgrade(database_url(server_url, spec.database), spec.migrations)


Hook = Callable[[dict[str, tuple[FastAPI, ServiceRuntime]]], Awaitable[None]]


def build_platform(
    server_url: str, secrets: dict[str, Any], *, on_ready: Hook | None = None, **settings: Any
) -> tuple[FastAPI, dict[str, tuple[FastAPI, ServiceRuntime]]]:
    """The root app with every service mounted; `on_ready` runs once all have started."""
    # max_lag=0: publish returns once every consumer group committed, so an outbox row is
    # marked sent only when its effects are durable (the in-process log itself is not).
    bus = InProcessBus(max_lag=0)
    services: dict[str, tuple[FastAPI, ServiceRuntime]] = {}
    for spec in SERVICES:
        service_settings = spec.settings_cls(
            database_url=database_url(server_url, spec.database), **secrets, **settings
        )
        services[spec.prefix] = spec.build(service_settings, bus=bus)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        try:
            async with run_lifespans([app for app, _ in services.values()]):
                if on_ready is not None:
                    await on_ready(services)
                yield
        finally:
            await bus.stop()

    root = FastAPI(
        title="UMKM platform (embedded)", lifespan=lifespan, docs_url=None, redoc_url=None
    )

    @root.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        links = "".join(
            f'<li><a href="{p}/docs">{p[1:]}</a> — <a href="{p}/openapi.json">OpenAPI</a></li>'
            for p in services
        )
        return f"<h1>UMKM platform</h1><ul>{links}</ul>"

    @root.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for prefix, (app, _) in services.items():
        root.mount(prefix, app)
    return root, services
