"""Outbox relay: publishes committed outbox rows to the bus and marks them sent.

One pass (`publish_pending`) in one transaction: select the oldest unpublished rows
(`ORDER BY id ... FOR UPDATE SKIP LOCKED LIMIT batch_size`), publish them and wait until the bus
acknowledged every one (Kafka: idempotent producer, `acks=all`), mark them `published_at = now()`,
commit. If anything fails the transaction rolls back and the rows stay pending; the failure is
counted in `attempts` / `last_error` and the pass is retried after a backoff.

Delivery is at least once: a relay that dies after the bus acknowledged and before the commit
publishes the same rows again when it (or another replica) restarts. Consumers deduplicate by
event id through their inbox (`umkm_shared.messaging.consumer`).

Order: rows are published in id order (UUIDv7 = creation order), and one aggregate's events are
created in order under that aggregate's row lock, so they leave in order with the same key and
land on one partition in order. That needs a single publishing relay per service: `run()` first
takes a PostgreSQL advisory lock (`pg_try_advisory_lock`, keyed by the notify channel) on its own
connection; other replicas wait as hot standbys and take over when that connection ends. The
same dedicated connection LISTENs on the outbox's channel, so a commit wakes the relay at once;
it still polls every `idle_poll_seconds` in case a notification is missed.
One caveat: if a batch is only partly acknowledged (the producer gave up on some messages after
its own retries), the whole batch is sent again, so a consumer may see an older event of a key
after a newer one; payloads that carry a snapshot carry a `version` for consumers to compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import asyncpg
from sqlalchemy import ARRAY, Text, Uuid, any_, bindparam, cast, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.events.envelope import kafka_headers
from umkm_shared.messaging import metrics
from umkm_shared.messaging.bus import BusMessage, EventBus
from umkm_shared.messaging.outbox import notify_channel_for
from umkm_shared.messaging.tables import MessagingTables

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)


def _lock_key(channel: str) -> int:
    digest = hashlib.blake2b(f"umkm-outbox-relay:{channel}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        bus: EventBus,
        *,
        source: str | None = None,
        notify_channel: str | None = None,
        batch_size: int = 1000,
        idle_poll_seconds: float = 1.0,
        error_backoff_seconds: float = 1.0,
        lock_retry_seconds: float = 2.0,
    ) -> None:
        if notify_channel is None:
            if source is None:
                raise ValueError("give the outbox's `source` or its `notify_channel`")
            notify_channel = notify_channel_for(source)
        self.db = db
        self.tables = tables
        self.bus = bus
        self.notify_channel = notify_channel
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.error_backoff_seconds = error_backoff_seconds
        self.lock_retry_seconds = lock_retry_seconds
        self.lock_key = _lock_key(notify_channel)
        self.active = False  # True while this relay holds the lock
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        o = tables.outbox
        self._select = (
            select(
                o.c.id,
                o.c.topic,
                o.c.key,
                o.c.type,
                o.c.source,
                o.c.subject,
                o.c.time,
                cast(o.c.data, Text).label("data"),  # JSON text as stored: no parse + dump
                o.c.headers,
            )
            .where(o.c.published_at.is_(None))
            .order_by(o.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        ids = bindparam("ids", type_=ARRAY(Uuid(as_uuid=True)))
        self._mark = (
            update(o)
            .where(o.c.id == any_(ids))
            .values(published_at=func.now(), attempts=o.c.attempts + 1, last_error=None)
        )
        self._fail = (
            update(o)
            .where(o.c.id == any_(ids))
            .values(attempts=o.c.attempts + 1, last_error=bindparam("error"))
        )

    # -- one pass -------------------------------------------------------------------------------

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published and marked."""
        ids: list[Any] = []
        try:
            async with self.db.transaction() as session:
                rows = (await session.execute(self._select, {"limit": self.batch_size})).all()
                if not rows:
                    return 0
                ids = [row.id for row in rows]
                await self.bus.publish([self._message(row) for row in rows])
                await self._mark_published(session, ids)
        except Exception as exc:
            metrics.OUTBOX_PUBLISH_FAILURES.labels(channel=self.notify_channel).inc()
            if ids:
                await self._record_failure(ids, exc)
            raise
        metrics.OUTBOX_PUBLISHED.labels(channel=self.notify_channel).inc(len(ids))
        return len(ids)

    @staticmethod
    def _message(row: Any) -> BusMessage:
        extra: dict[str, Any] = row.headers or {}
        return BusMessage(
            topic=row.topic,
            key=row.key.encode() if row.key is not None else None,
            value=row.data.encode(),
            headers=kafka_headers(
                id=str(row.id),
                source=row.source,
                type=row.type,
                time=row.time,
                subject=row.subject,
                traceparent=extra.get("traceparent"),
            ),
        )

    async def _mark_published(self, session: AsyncSession, ids: list[Any]) -> None:
        await session.execute(self._mark, {"ids": ids})

    async def _record_failure(self, ids: list[Any], exc: BaseException) -> None:
        try:
            async with self.db.transaction() as session:
                await session.execute(
                    self._fail, {"ids": ids, "error": f"{type(exc).__name__}: {exc}"[:2000]}
                )
        except Exception:
            log.exception("could not record the relay failure in the outbox")

    # -- the loop -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run `run()` in a background task."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"outbox-relay:{self.notify_channel}")

    async def stop(self) -> None:
        """Finish the pass in hand, release the lock and the connection, and return."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Ask for a pass now (e.g. after an in-process commit, without NOTIFY)."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until `stop()`: hold the lock, LISTEN, publish, wait for NOTIFY or the poll."""
        self._stopping.clear()
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn())
                if not await self._acquire_lock(conn):
                    break
                await conn.add_listener(self.notify_channel, self._on_notify)
                self.active = True
                metrics.OUTBOX_RELAY_ACTIVE.labels(channel=self.notify_channel).set(1)
                log.info("outbox relay active on %s", self.notify_channel)
                await self._publish_loop(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay connection failed; reconnecting")
                await self._sleep(self.error_backoff_seconds)
            finally:
                self.active = False
                metrics.OUTBOX_RELAY_ACTIVE.labels(channel=self.notify_channel).set(0)
                if conn is not None:
                    # Closing the session releases the advisory lock.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=5))

    async def _acquire_lock(self, conn: asyncpg.Connection) -> bool:
        waiting_logged = False
        while not self._stopping.is_set():
            if await conn.fetchval("select pg_try_advisory_lock($1)", self.lock_key):
                return True
            if not waiting_logged:
                log.info("another relay publishes %s; standing by", self.notify_channel)
                waiting_logged = True
            await self._sleep(self.lock_retry_seconds)
        return False

    async def _publish_loop(self, conn: asyncpg.Connection) -> None:
        failures = 0
        while not self._stopping.is_set():
            if conn.is_closed():
                raise ConnectionError("relay lock connection closed")
            self._wake.clear()
            try:
                published = await self.publish_pending()
                failures = 0
            except Exception:
                failures += 1
                log.exception("outbox relay pass failed (%d in a row)", failures)
                await self._sleep(min(30.0, self.error_backoff_seconds * 2 ** (failures - 1)))
                continue
            if published >= self.batch_size:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_poll_seconds)
            except TimeoutError:
                await conn.fetchval("select 1")  # the lock connection is still alive

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def _dsn(self) -> str:
        url = make_url(self.db.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)
