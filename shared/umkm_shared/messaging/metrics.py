"""Prometheus metrics of the messaging layer (module-level: a collector may be registered once)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_CONSUMED = Counter(
    "umkm_events_consumed_total",
    "Events seen by an EventConsumer, by outcome (applied, duplicate, unhandled, unknown_type)",
    ["group", "type", "outcome"],
)
DEAD_LETTERED = Counter(
    "umkm_events_dead_lettered_total",
    "Messages sent to the dead-letter topic after failing their handler",
    ["group", "topic"],
)
HANDLER_RETRIES = Counter(
    "umkm_event_handler_retries_total",
    "Handler failures that were retried",
    ["group", "topic"],
)
OUTBOX_PUBLISHED = Counter(
    "umkm_outbox_published_total",
    "Outbox events published to the bus and marked sent",
    ["channel"],
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "umkm_outbox_publish_failures_total",
    "Relay passes that failed to publish (the batch stays pending and is retried)",
    ["channel"],
)
OUTBOX_RELAY_ACTIVE = Gauge(
    "umkm_outbox_relay_active",
    "1 when this process holds the relay lock of the channel and publishes",
    ["channel"],
)
