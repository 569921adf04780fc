"""Messaging: the bus interface and its two transports, the transactional outbox and relay,
and the idempotent (inbox) consumer.

Import the parts from their modules (`umkm_shared.messaging.kafka`, `.inprocess`, `.tables`,
`.outbox`, `.relay`, `.consumer`); this package only re-exports the bus interface, so importing
it stays cheap and free of import cycles with `umkm_shared.events`.
"""

from umkm_shared.messaging.bus import (
    DLQ_SUFFIX,
    BusMessage,
    EventBus,
    Handler,
    PermanentError,
    Subscription,
    TransientError,
    dlq_topic,
)

__all__ = [
    "DLQ_SUFFIX",
    "BusMessage",
    "EventBus",
    "Handler",
    "PermanentError",
    "Subscription",
    "TransientError",
    "dlq_topic",
]
