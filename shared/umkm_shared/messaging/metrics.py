"""Prometheus metrics of the messaging layer (module-level: a collector may be registered once)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from umkm_shared.library_metrics import LIBRARY_REGISTRY

EVENTS_CONSUMED = Counter(
    "umkm_events_consumed_total",
    "Events seen by an EventConsumer, by outcome (applied, duplicate, unhandled, unknown_type)",
    ["group", "type", "outcome"],
    registry=LIBRARY_REGISTRY,
)
DEAD_LETTERED = Counter(
    "umkm_events_dead_lettered_total",
    "Messages sent to the dead-letter topic after failing their handler",
    ["group", "topic"],
    registry=LIBRARY_REGISTRY,
)
HANDLER_RETRIES = Counter(
    "umkm_event_handler_retries_total",
    "Handler failures that were retried",
    ["group", "topic"],
    registry=LIBRARY_REGISTRY,
)
OUTBOX_PUBLISHED = Counter(
    "umkm_outbox_published_total",
    "Outbox events published to the bus and marked sent",
    ["channel"],
    registry=LIBRARY_REGISTRY,
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "umkm_outbox_publish_failures_total",
    "Relay passes that failed to publish (the batch stays pending and is retried)",
    ["channel"],
    registry=LIBRARY_REGISTRY,
)
OUTBOX_RELAY_ACTIVE = Gauge(
    "umkm_outbox_relay_active",
    "1 when this process holds the relay lock of the channel and publishes",
    ["channel"],
    registry=LIBRARY_REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "umkm_outbox_backlog",
    "Outbox events committed but not yet published (measured by the active relay)",
    ["channel"],
    registry=LIBRARY_REGISTRY,
)
OUTBOX_OLDEST_AGE = Gauge(
    "umkm_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox event (0 when none is pending)",
    ["channel"],
    registry=LIBRARY_REGISTRY,
)
CONSUMER_LAG = Gauge(
    "umkm_consumer_lag_messages",
    "Messages on a partition after the last one this consumer group finished",
    ["group", "topic", "partition"],
    registry=LIBRARY_REGISTRY,
)
BATCH_FALLBACKS = Counter(
    "umkm_event_batch_fallbacks_total",
    "Batches whose batch handler failed and that were applied (partly) message by message",
    ["group", "topic"],
    registry=LIBRARY_REGISTRY,
)
