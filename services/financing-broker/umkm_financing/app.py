"""The financing broker's FastAPI app and the runtime beside it: outbox relay, the consumer of
registry / clustering / supply-chain events (read models and the closed loop), the webhook
delivery worker and the loan-ageing worker."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from umkm_shared.auth import token_router
from umkm_shared.crypto import NikVault
from umkm_shared.messaging.bus import EventBus
from umkm_shared.messaging.consumer import EventConsumer
from umkm_shared.runtime import ServiceRuntime, build_service
from umkm_shared.webhooks import WebhookDeliveryWorker, Webhooks, webhook_router

from . import endpoints
from .config import Settings
from .consumers import handlers
from .context import FinancingContext, SecretBox
from .models import messaging_tables, webhook_tables
from .owners import anchor_owner, bank_owner
from .workers import LoanAgeingWorker

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """
The financing broker: partner banks, anchor-backed programmes and their layered limits, KUR and
supply-chain finance applications, offers from several banks, loans and closed-loop repayment.

**Tokens.** `POST /v1/oauth/token` (OAuth 2.0 client credentials), then
`Authorization: Bearer <token>`.

**Banks** (`/v1/bank/...`) also sign every request SNAP-style: `X-TIMESTAMP`, `X-PARTNER-ID`,
`X-EXTERNAL-ID` (unique per partner per day) and `X-SIGNATURE` =
base64(HMAC-SHA512(signing secret,
`METHOD:path:access_token:hex(sha256(minified body)):X-TIMESTAMP`)). See docs/financing.md.

Every unsafe call takes an `Idempotency-Key`. Errors are RFC 9457 `application/problem+json`;
an illegal step of an application is a 409 naming the allowed ones.
"""


def _vault(settings: Settings) -> NikVault | None:
    try:
        return NikVault.from_settings(settings)
    except ValueError:
        return None


def build(settings: Settings, bus: EventBus | None = None) -> tuple[FastAPI, ServiceRuntime]:
    webhooks = Webhooks(webhook_tables, allow_private_targets=settings.environment == "test")
    app, runtime = build_service(
        settings,
        title="UMKM Financing broker",
        description=DESCRIPTION,
        tables=messaging_tables,
        routers=[
            endpoints.router,
            endpoints.bank,
            webhook_router(webhooks, bank_owner, prefix="/v1/bank", tags=["bank webhooks"]),
            webhook_router(webhooks, anchor_owner, prefix="/v1/anchor", tags=["anchor webhooks"]),
            token_router(endpoints.client_store),
        ],
        bus=bus,
    )
    ctx = FinancingContext(
        db=runtime.db,
        outbox=runtime.outbox,
        settings=settings,
        box=SecretBox.from_settings(settings),
        vault=_vault(settings),
        webhooks=webhooks,
    )
    app.state.financing = ctx
    runtime.consumers.append(
        EventConsumer(
            runtime.db, runtime.tables, runtime.bus, settings.consumer_group, None, handlers(ctx)
        )
    )
    if settings.webhook_delivery:
        runtime.workers.append(WebhookDeliveryWorker(runtime.db, webhooks))
    ageing = LoanAgeingWorker(ctx, settings.ageing_interval_seconds)
    app.state.ageing = ageing
    runtime.workers.append(ageing)
    return app, runtime


def create_app() -> FastAPI:
    return build(Settings())[0]
