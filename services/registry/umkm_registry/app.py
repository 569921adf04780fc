"""The registry's FastAPI app and the runtime beside it (outbox relay; no consumers yet)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from umkm_shared.auth import token_router
from umkm_shared.crypto import NikVault
from umkm_shared.messaging.bus import EventBus
from umkm_shared.runtime import ServiceRuntime, build_service

from . import endpoints, export
from .config import RegistrySettings
from .context import RegistryContext
from .dedup import endpoints as dedup_endpoints
from .imports import ImportSettings, ImportWorker
from .imports import endpoints as import_endpoints
from .koperasi import endpoints as koperasi_endpoints
from .models import messaging_tables

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """
The national UMKM registry: records, validation, PP 7/2021 scale and its history.

Get a token with `POST /v1/oauth/token` (client credentials), then send it as
`Authorization: Bearer <token>`. The ministry reads everything; a Dinas reads and writes
only inside its wilayah. Errors are RFC 9457 `application/problem+json`.
"""


def build(
    settings: RegistrySettings, bus: EventBus | None = None
) -> tuple[FastAPI, ServiceRuntime]:
    import_settings = ImportSettings()
    app, runtime = build_service(
        settings,
        title="UMKM Registry",
        description=DESCRIPTION,
        tables=messaging_tables,
        routers=[
            endpoints.router,
            import_endpoints.router,
            dedup_endpoints.router,
            koperasi_endpoints.router,
            export.router,
            token_router(endpoints.client_store),
        ],
        bus=bus,
        # bulk import uploads (multipart overhead on top of the file cap)
        body_limit_overrides={"/v1/imports": import_settings.max_file_bytes + 1024 * 1024},
    )
    app.state.registry = RegistryContext(
        db=runtime.db, vault=NikVault.from_settings(settings), outbox=runtime.outbox
    )
    worker = ImportWorker(
        runtime.db, app.state.registry.vault, runtime.outbox, settings, import_settings
    )
    app.state.import_settings = import_settings
    app.state.import_worker = worker
    runtime.workers.append(worker)
    return app, runtime


def create_app() -> FastAPI:
    """Factory for `uvicorn --factory umkm_registry.app:create_app` (settings from env)."""
    return build(RegistrySettings())[0]
