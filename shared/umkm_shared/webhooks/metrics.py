"""Prometheus metrics of outgoing webhooks (module-level: a collector may be registered once).

`target` is a label naming the sending service's webhook store (by default its database name),
so two services in one process (embedded mode) keep separate series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from umkm_shared.library_metrics import LIBRARY_REGISTRY

WEBHOOK_DELIVERIES = Counter(
    "umkm_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, failed, gone, refused)",
    ["target", "outcome"],
    registry=LIBRARY_REGISTRY,
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "umkm_webhook_delivery_duration_seconds",
    "Duration of one webhook HTTP attempt, by outcome",
    ["target", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
    registry=LIBRARY_REGISTRY,
)
WEBHOOK_BACKLOG = Gauge(
    "umkm_webhook_backlog",
    "Webhook messages pending or in delivery (sampled by the delivery worker)",
    ["target"],
    registry=LIBRARY_REGISTRY,
)
WEBHOOK_MESSAGES_FAILED = Counter(
    "umkm_webhook_messages_failed_total",
    "Webhook messages that exhausted their retry schedule (or whose endpoint was disabled)",
    ["target"],
    registry=LIBRARY_REGISTRY,
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "umkm_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled automatically or by their owner, by reason",
    ["reason"],
    registry=LIBRARY_REGISTRY,
)
