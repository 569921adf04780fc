"""Outgoing webhooks (Standard Webhooks) for partners: anchors and banks.

    from umkm_shared.webhooks import (
        Webhooks, WebhookDeliveryWorker, define_webhook_tables, webhook_router, RetrySchedule,
    )
    webhook_tables = define_webhook_tables(metadata)               # models.py
    webhooks = Webhooks(webhook_tables)                            # once per process
    ids = await webhooks.enqueue(session, "anchor", anchor_id, "purchase_order.created", data)
    runtime.workers.append(WebhookDeliveryWorker(runtime.db, webhooks))
    routers = [webhook_router(webhooks, anchor_owner)]             # anchor_owner -> (kind, id)

Modules: `tables` (schema and migration helpers), `service` (`Webhooks`: endpoints, enqueue,
replay), `worker` (delivery, retries, disabling), `router` (the HTTP API), `ssrf` (URL guard),
`secrets` (secret generation, sealing, signing), `schedule`, `metrics`. See docs/webhooks.md.
"""

from umkm_shared.webhooks.router import EndpointCreate, EndpointPatch, ReplayResult, webhook_router
from umkm_shared.webhooks.schedule import DEFAULT_DELAYS, RetrySchedule
from umkm_shared.webhooks.secrets import generate_secret
from umkm_shared.webhooks.service import (
    AttemptOut,
    EndpointOut,
    EndpointStatus,
    MessageOut,
    MessageStatus,
    Webhooks,
    purge_finished,
)
from umkm_shared.webhooks.ssrf import UnsafeWebhookUrl, check_webhook_url, forbidden_reason
from umkm_shared.webhooks.tables import (
    WebhookTables,
    create_webhook_tables,
    define_webhook_tables,
    drop_webhook_tables,
)
from umkm_shared.webhooks.worker import USER_AGENT, WebhookDeliveryWorker

__all__ = [
    "DEFAULT_DELAYS",
    "USER_AGENT",
    "AttemptOut",
    "EndpointCreate",
    "EndpointOut",
    "EndpointPatch",
    "EndpointStatus",
    "MessageOut",
    "MessageStatus",
    "ReplayResult",
    "RetrySchedule",
    "UnsafeWebhookUrl",
    "WebhookDeliveryWorker",
    "WebhookTables",
    "Webhooks",
    "check_webhook_url",
    "create_webhook_tables",
    "define_webhook_tables",
    "drop_webhook_tables",
    "forbidden_reason",
    "generate_secret",
    "purge_finished",
    "webhook_router",
]
