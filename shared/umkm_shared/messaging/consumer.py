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

Batches (`batch_size`, default 500; 1 turns them off): the bus hands consecutive messages of one
partition to `handle_batch`, which applies them in ONE transaction: one multi-row inbox claim,
then the handlers of the claimed events in offset order (each in its own tracing span continuing
the event's traceparent), then one commit. Only then are the offsets committed. Between events
the session is flushed and its identity map emptied, so a handler sees the previous events'
effects as fresh rows, as it would in a transaction of its own. If anything fails, nothing of the
batch is committed and the bus falls back to `handle` for the failing event (retries,
dead-lettering) after applying the events before it again as a batch; the events after it form
the next batch. Handlers therefore must not rely on being alone in their transaction: they get
the session, never commit, and keep no state outside the database that a rollback would not undo
(the existing contract; a rolled-back batch runs them again).
"""

from __future__ import annotations

import logging
from collections import Counter
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
from umkm_shared.messaging.bus import (
    BatchError,
    BusMessage,
    EventBus,
    PermanentError,
    Subscription,
)
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
        batch_size: int = 500,
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
        self.batch_size = batch_size
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
            batch_handler=self.handle_batch if self.batch_size > 1 else None,
            max_batch=max(1, self.batch_size),
        )

    async def stop(self) -> None:
        if self.subscription is not None:
            await self.subscription.stop()
            self.subscription = None

    def _decode(self, message: BusMessage) -> tuple[CloudEvent, EventHandler | None, Any]:
        """The event, its handler (None: not handled here) and its typed payload."""
        try:
            event = from_kafka(message.headers, message.value)
        except EnvelopeError as exc:
            raise PermanentError(str(exc)) from exc
        handler = self.handlers.get(event.type)
        if handler is None:
            return event, None, None
        try:
            payload = parse_payload(event)
        except (InvalidPayload, UnknownEventType) as exc:
            raise PermanentError(str(exc)) from exc
        return event, handler, payload

    def _span(self, message: BusMessage, event: CloudEvent, batch: int | None = None) -> trace.Span:
        context = (
            propagate.extract({"traceparent": event.traceparent}) if event.traceparent else None
        )
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.destination.name": message.topic,
            "messaging.consumer.group.name": self.group,
            "messaging.message.id": event.id,
        }
        if batch is not None:
            attributes["messaging.batch.message_count"] = batch
        return tracer.start_span(
            f"process {event.type}",
            context=context,
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        )

    async def handle(self, message: BusMessage) -> None:
        """Apply one bus message exactly once (the bus handler)."""
        event, handler, payload = self._decode(message)
        if handler is None:
            await self._record_skipped(event)
            return
        with trace.use_span(self._span(message, event), end_on_exit=True):
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

    async def handle_batch(self, messages: Sequence[BusMessage]) -> None:
        """Apply consecutive messages of one partition exactly once, in one transaction (the
        bus batch handler). All or nothing: on failure nothing is committed, and a failure of
        one message (undecodable, or its handler raised) is reported as `BatchError(index)`."""
        decoded: list[tuple[int, BusMessage, CloudEvent, EventHandler | None, Any]] = []
        for index, message in enumerate(messages):
            try:
                event, handler, payload = self._decode(message)
            except PermanentError as exc:
                raise BatchError(index, exc) from exc
            decoded.append((index, message, event, handler, payload))

        seen: set[str] = set()
        claim_rows: list[dict[str, Any]] = []
        skip_rows: list[dict[str, Any]] = []
        for _, _, event, handler, _ in decoded:
            if event.id in seen:  # a repeat within the batch: the first copy decides
                continue
            seen.add(event.id)
            if handler is None:
                skip_rows.append(self._inbox_row(event, SKIPPED))
            else:
                claim_rows.append(self._inbox_row(event, APPLIED))

        outcomes: Counter[tuple[str, str]] = Counter()
        async with self.db.transaction() as session:
            if skip_rows:
                await session.execute(self._skip, skip_rows)
            to_apply: set[str] = set()
            if claim_rows:
                result = await session.execute(self._claim, claim_rows)
                to_apply = {row[0] for row in result}
            for index, message, event, handler, payload in decoded:
                if handler is None:
                    outcomes[(event.type, self._skip_outcome(event))] += 1
                    continue
                with trace.use_span(self._span(message, event, len(messages)), end_on_exit=True):
                    if event.id not in to_apply:
                        outcomes[(event.type, "duplicate")] += 1
                        continue
                    to_apply.discard(event.id)  # a later copy in this batch is a duplicate
                    try:
                        await handler(session, payload, event)
                        await session.flush()
                    except Exception as exc:
                        raise BatchError(index, exc) from exc
                # The next event starts with an empty identity map, as in a session of its own.
                session.expunge_all()
                outcomes[(event.type, APPLIED)] += 1

        for (event_type, outcome), count in outcomes.items():
            metrics.EVENTS_CONSUMED.labels(self.group, event_type, outcome).inc(count)
            if outcome == APPLIED:
                self.stats.applied += count
            elif outcome == "duplicate":
                self.stats.duplicates += count
            else:
                self.stats.skipped += count
        log.debug("batch of %d handled by %s: %s", len(messages), self.group, dict(outcomes))

    async def _record_skipped(self, event: CloudEvent) -> None:
        async with self.db.transaction() as session:
            await session.execute(self._skip, self._inbox_row(event, SKIPPED))
        self.stats.skipped += 1
        metrics.EVENTS_CONSUMED.labels(self.group, event.type, self._skip_outcome(event)).inc()

    def _skip_outcome(self, event: CloudEvent) -> str:
        try:
            payload_class(event.type)
        except UnknownEventType:
            log.info("event type %s unknown to %s; recorded and skipped", event.type, self.group)
            return "unknown_type"
        return "unhandled"

    def _inbox_row(self, event: CloudEvent, outcome: str) -> dict[str, Any]:
        return {
            "consumer_group": self.group,
            "event_id": event.id,
            "event_type": event.type,
            "outcome": outcome,
        }
