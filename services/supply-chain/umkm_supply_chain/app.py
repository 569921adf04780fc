"""The supply-chain service: anchors, supplier profiles, procurement, matching, purchase
orders to payment, and webhooks to anchors."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from umkm_shared.auth import token_router
from umkm_shared.messaging.bus import EventBus
from umkm_shared.runtime import ServiceRuntime, build_service
from umkm_shared.webhooks import RetrySchedule, WebhookDeliveryWorker, Webhooks, webhook_router

from . import endpoints
from .config import Settings
from .consumers import supplier_consumer
from .context import SupplyChainContext
from .matching import IndexSync, SupplierIndex
from .models import messaging_tables, webhook_tables

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """
Anchor companies' procurement from UMKM: supplier profiles (from registry events, enriched by
the UMKM's Dinas or koperasi), procurement requests, matching with an explained score and
bundles of suppliers when no single UMKM can deliver, purchase orders through goods receipt
(BAST), invoice and payment, and Standard Webhooks to anchors.

Get a token with `POST /v1/oauth/token` (client credentials) and send it as
`Authorization: Bearer <token>`. An anchor sees only its own requests, orders and matched
suppliers; a koperasi only its members' orders, a Dinas only its wilayah's. Errors are RFC 9457
`application/problem+json`; an illegal lifecycle step is a 409 naming the allowed steps.
"""


def build(settings: Settings, bus: EventBus | None = None) -> tuple[FastAPI, ServiceRuntime]:
    webhooks = Webhooks(
        webhook_tables, allow_private_targets=settings.allow_private_webhook_targets
    )
    app, runtime = build_service(
        settings,
        title="UMKM Supply chain",
        description=DESCRIPTION,
        tables=messaging_tables,
        routers=[
            endpoints.router,
            token_router(endpoints.client_store),
            webhook_router(webhooks, endpoints.webhook_owner, tags=["webhooks"]),
        ],
        bus=bus,
    )
    index = SupplierIndex()
    index_sync = IndexSync(runtime.db, index, settings.index_sync_seconds)
    schedule = (
        RetrySchedule(settings.webhook_retry_delays)
        if settings.webhook_retry_delays
        else RetrySchedule.default()
    )
    from datetime import timedelta

    worker = WebhookDeliveryWorker(
        runtime.db,
        webhooks,
        schedule=schedule,
        poll_interval=settings.webhook_poll_interval,
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
    )
    runtime.consumers.append(
        supplier_consumer(runtime.db, messaging_tables, runtime.bus, settings.consumer_group)
    )
    runtime.workers.append(index_sync)
    runtime.workers.append(worker)
    app.state.supply_chain = SupplyChainContext(
        db=runtime.db,
        outbox=runtime.outbox,
        webhooks=webhooks,
        index=index,
        index_sync=index_sync,
        settings=settings,
    )
    app.state.webhook_worker = worker
    return app, runtime


def create_app() -> FastAPI:
    """Factory for `uvicorn --factory umkm_supply_chain.app:create_app` (settings from env)."""
    return build(Settings())[0]
