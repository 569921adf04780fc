"""Idempotent event consumer: the inbox and the handler's effects commit in one transaction.

    async def on_registered(session: AsyncSession, payload: UmkmRegistered, event: CloudEvent):
        ...  # update the read model with `session`; never commit

    consumer = EventConsumer(db, tables, bus, "financing", None, {UmkmRegistered: on_registered})
    await consumer.start()

For each message: decode the CloudEvent and its typed payload, then in ONE transaction claim the
event id in the inbox (`INSERT ... ON CONFLICT DO NOTHING/UPDATE ... RETURNING`), run the handler
with the same session, and commit. Only then does `handle` return to the bus, which commits the
offset. So an event delivered twice (relay restart, lost offset commit, rebalance) is applied once;
a failing handler rolls back its inbox row with its effects, and the bus retries it or moves it
to the dead-letter topic. Messages that are not CloudEvents, or whose data does not validate, raise
`PermanentError` and are dead-lettered at once.

Types the consumer has no handler for (unknown to this code version, or simply not of interest)
are recorded in the inbox with outcome "skipped" and acknowledged: forward compatibility. A skipped
row does not block a later replay: once a handler exists, the claim upgrades it to "applied".

Handlers are keyed by payload class (or its wire type string); topics default to the handled
classes' topics.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import propagate, trace
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.events.base import (
    EventPayload,
    InvalidPayload,
    UnknownEventType,
    parse_payload,
    payload_class,
)
from umkm_shared.events.envelope import CloudEvent, EnvelopeError, from_kafka
from umkm_shared.messaging import metrics
from umkm_shared.messaging.bus import BusMessage, EventBus, PermanentError, Subscription
from umkm_shared.messaging.tables import MessagingTables

__all__ = ["ConsumerStats", "EventConsumer", "EventHandler"]

log = logging.getLogger(__name__)
tracer = trace.get_tracer("umkm_shared.messaging")

EventHandler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]

APPLIED = "applied"
SKIPPED = "skipped"


@dataclass
class ConsumerStats:
    """Counts since start (the same figures go to Prometheus, labelled by group)."""

    applied: int = 0
    duplicates: int = 0
    skipped: int = 0


class EventConsumer:
    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        bus: EventBus,
        group: str,
        topics: Sequence[str] | None,
        handlers: Mapping[type[EventPayload] | str, EventHandler],
        *,
        max_retries: int = 5,
        dead_letter: bool = True,
        initial_backoff: float = 0.1,
        max_backoff: float = 10.0,
    ) -> None:
        self.db = db
        self.tables = tables
        self.bus = bus
        self.group = group
        self.handlers: dict[str, EventHandler] = {}
        for key, handler in handlers.items():
            cls = payload_class(key) if isinstance(key, str) else key
            self.handlers[cls.type_name()] = handler
        self.topics = (
            tuple(topics)
            if topics is not None
            else tuple(sorted({payload_class(t).topic for t in self.handlers}))
        )
        if not self.topics:
            raise ValueError("EventConsumer needs topics or at least one handler")
        self.max_retries = max_retries
        self.dead_letter = dead_letter
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stats = ConsumerStats()
        self.subscription: Subscription | None = None

        inbox = tables.inbox
        claim = pg_insert(inbox)
        self._claim = claim.on_conflict_do_update(
            index_elements=[inbox.c.consumer_group, inbox.c.event_id],
            set_={"outcome": APPLIED, "event_type": claim.excluded.event_type},
            where=inbox.c.outcome == SKIPPED,
        ).returning(inbox.c.event_id)
        self._skip = pg_insert(inbox).on_conflict_do_nothing(
            index_elements=[inbox.c.consumer_group, inbox.c.event_id]
        )

    async def start(self) -> None:
        self.subscription = await self.bus.subscribe(
            self.group,
            self.topics,
            self.handle,
            max_retries=self.max_retries,
            dead_letter=self.dead_letter,
            initial_backoff=self.initial_backoff,
            max_backoff=self.max_backoff,
        )

    async def stop(self) -> None:
        if self.subscription is not None:
            await self.subscription.stop()
            self.subscription = None

    async def handle(self, message: BusMessage) -> None:
        """Apply one bus message exactly once (the bus handler)."""
        try:
            event = from_kafka(message.headers, message.value)
        except EnvelopeError as exc:
            raise PermanentError(str(exc)) from exc

        handler = self.handlers.get(event.type)
        if handler is None:
            await self._record_skipped(event)
            return
        try:
            payload = parse_payload(event)
        except (InvalidPayload, UnknownEventType) as exc:
            raise PermanentError(str(exc)) from exc

        context = (
            propagate.extract({"traceparent": event.traceparent}) if event.traceparent else None
        )
        with tracer.start_as_current_span(
            f"process {event.type}",
            context=context,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": message.topic,
                "messaging.consumer.group.name": self.group,
                "messaging.message.id": event.id,
            },
        ):
            async with self.db.transaction() as session:
                claimed = (
                    await session.execute(self._claim, self._inbox_row(event, APPLIED))
                ).first()
                if claimed is not None:
                    await handler(session, payload, event)
        if claimed is None:
            self.stats.duplicates += 1
            metrics.EVENTS_CONSUMED.labels(self.group, event.type, "duplicate").inc()
            log.debug("duplicate event %s skipped by %s", event.id, self.group)
        else:
            self.stats.applied += 1
            metrics.EVENTS_CONSUMED.labels(self.group, event.type, APPLIED).inc()

    async def _record_skipped(self, event: CloudEvent) -> None:
        async with self.db.transaction() as session:
            await session.execute(self._skip, self._inbox_row(event, SKIPPED))
        self.stats.skipped += 1
        try:
            payload_class(event.type)
            outcome = "unhandled"
        except UnknownEventType:
            outcome = "unknown_type"
            log.info("event type %s unknown to %s; recorded and skipped", event.type, self.group)
        metrics.EVENTS_CONSUMED.labels(self.group, event.type, outcome).inc()

    def _inbox_row(self, event: CloudEvent, outcome: str) -> dict[str, Any]:
        return {
            "consumer_group": self.group,
            "event_id": event.id,
            "event_type": event.type,
            "outcome": outcome,
        }
