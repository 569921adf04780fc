"""Transactional outbox: events are rows written in the same transaction as the change.

    outbox = Outbox(tables, source="/registry")
    async with db.transaction() as session:
        ...  # change the aggregate
        await outbox.enqueue(session, UmkmRegistered(umkm=snapshot))
    # committed: the change and its event, or neither

The caller commits; the relay (`umkm_shared.messaging.relay`) publishes. Each enqueue also runs
`pg_notify(<channel>)`, which PostgreSQL delivers only on commit (and folds repeats within one
transaction into one), so the relay wakes at once instead of waiting for its next poll. A rolled
back transaction leaves neither row nor notification.

`enqueue_many` is the bulk path (the registry's import writes ~1M events): it streams rows with
binary `COPY` on the session's own connection, no ORM objects and no per-row round trips, and
returns just the event ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.events.base import EventPayload, current_traceparent, make_event
from umkm_shared.events.envelope import CloudEvent
from umkm_shared.ids import new_id
from umkm_shared.messaging.tables import MessagingTables

__all__ = ["Outbox", "notify_channel_for", "purge_published"]

_COPY_COLUMNS = ("id", "topic", "key", "type", "source", "subject", "time", "data", "headers")


def notify_channel_for(source: str) -> str:
    """The LISTEN/NOTIFY channel of a service's outbox, e.g. `/registry` -> `outbox_registry`."""
    name = re.sub(r"[^a-z0-9_]+", "_", source.lower()).strip("_") or "default"
    return f"outbox_{name}"[:63]


class Outbox:
    """Writes events of one producing service (`source`, e.g. "/registry") to its outbox."""

    def __init__(
        self, tables: MessagingTables, source: str, *, notify_channel: str | None = None
    ) -> None:
        self.tables = tables
        self.source = source
        self.notify_channel = notify_channel or notify_channel_for(source)

    async def enqueue(
        self,
        session: AsyncSession,
        payload: EventPayload,
        subject: str | None = None,
        *,
        traceparent: str | None = None,
    ) -> CloudEvent:
        """Add one event to the outbox in the session's transaction; returns the event."""
        event = make_event(payload, self.source, subject, traceparent=traceparent)
        row = {
            "id": uuid.UUID(event.id),
            "topic": payload.topic,
            "key": payload.message_key(),
            "type": event.type,
            "source": event.source,
            "subject": event.subject,
            "time": event.time,
            "data": event.data,
            "headers": {"traceparent": event.traceparent} if event.traceparent else {},
        }
        # One round trip: a data-modifying CTE runs even though the SELECT does not read it.
        ins = insert(self.tables.outbox).values(**row).cte("ins")
        await session.execute(select(func.pg_notify(self.notify_channel, "")).add_cte(ins))
        return event

    async def enqueue_many(
        self,
        session: AsyncSession,
        payloads: Iterable[EventPayload],
        *,
        traceparent: str | None = None,
    ) -> list[uuid.UUID]:
        """Add many events with one binary COPY in the session's transaction; returns their ids.

        Subjects default to each payload's key. Ids are generated in iteration order, so the
        relay publishes in that order.
        """
        trace = traceparent if traceparent is not None else current_traceparent()
        headers = orjson.dumps({"traceparent": trace} if trace else {}).decode()
        now = datetime.now(UTC)
        ids: list[uuid.UUID] = []
        records: list[tuple[Any, ...]] = []
        for payload in payloads:
            if not payload.event_type:
                raise TypeError(f"{type(payload).__qualname__} is not a concrete event payload")
            event_id = new_id()
            key = payload.message_key()
            ids.append(event_id)
            records.append(
                (
                    event_id,
                    payload.topic,
                    key,
                    payload.type_name(),
                    self.source,
                    key,
                    now,
                    payload.model_dump_json(),
                    headers,
                )
            )
        if not records:
            return ids
        # Through SQLAlchemy first: its asyncpg adapter opens the database transaction lazily,
        # on the first statement it runs, and COPY on the raw connection must be inside it.
        await session.execute(select(func.pg_notify(self.notify_channel, "")))
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        table = self.tables.outbox
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name, records=records, columns=_COPY_COLUMNS, schema_name=table.schema
        )
        return ids


async def purge_published(
    session: AsyncSession, tables: MessagingTables, older_than: timedelta
) -> int:
    """Delete outbox rows published more than `older_than` ago (housekeeping job)."""
    outbox = tables.outbox
    cutoff = datetime.now(UTC) - older_than
    result = await session.execute(
        delete(outbox).where(outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
