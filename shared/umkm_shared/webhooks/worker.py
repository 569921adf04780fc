"""`WebhookDeliveryWorker`: sends queued webhook messages, retries them, logs every attempt.

A pass, in short transactions (no transaction is open during HTTP calls):

1. claim: `SELECT ... FOR UPDATE OF m SKIP LOCKED` the due messages of active endpoints and mark
   them `delivering` with a lease (`locked_until`, `lease_token`) in the same statement, so any
   number of worker processes can run side by side and never send one message at the same time;
   a worker that dies mid-delivery leaves a lease that expires (`lease`, default 60 s, longer than
   the 10 s request timeout), after which the message is claimed again;
2. send: POST the stored body (the same bytes on every attempt) with the Standard Webhooks headers;
   `webhook-id` is the message's stable id, `webhook-timestamp` the time of *this* attempt (a
   receiver refuses timestamps older than 5 minutes, so a retry hours later must carry a fresh
   one) and `webhook-signature` is computed for it, with one `v1,` signature per valid secret
   (two during a rotation's grace period). No redirects, 10 s in total, at most 1 KB of the
   response is read;
3. record: one transaction writes the attempt row and the message's new state (guarded by the
   lease token: a worker whose lease was taken over does not overwrite the newer claim).

Outcomes: 2xx delivered (the endpoint's failure streak ends). `410 Gone`: the endpoint is disabled
at once and the message failed. Anything else (other statuses, timeouts, connection errors, an
address refused by the SSRF guard) is retried on the schedule (`RetrySchedule`, default ~27 h over
8 attempts); after the last attempt the message is `failed` (replayable by hand). An endpoint that
has failed continuously for `disable_after` (default 5 days, as Svix) is disabled: a failure
starts a streak, a success ends it, and a quiet gap longer than the longest retry delay (x2, at
least an hour) between two failures starts a new streak instead of extending the old one.

Order: a message with an `ordering_key` is due only when no older message of the same endpoint
and key is pending or in delivery, so those go strictly one at a time in creation order, and a
later one waits while an earlier one is retried (until it is delivered or finally failed).
Messages without a key go in parallel, at most `concurrency` at a time per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
import httpx
from sqlalchemy import case, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.ids import new_id
from umkm_shared.webhooks import metrics
from umkm_shared.webhooks.schedule import RetrySchedule
from umkm_shared.webhooks.secrets import sign
from umkm_shared.webhooks.service import Webhooks, disable
from umkm_shared.webhooks.ssrf import UnsafeWebhookUrl, check_webhook_url, guarded_transport

__all__ = ["USER_AGENT", "WebhookDeliveryWorker"]

log = logging.getLogger(__name__)

USER_AGENT = "umkm-platform-webhooks/1.0"
RESPONSE_EXCERPT_BYTES = 1024
_dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

Outcome = Literal["delivered", "failed", "gone", "refused"]


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    webhook_id: str
    endpoint_id: uuid.UUID
    body: str
    attempts: int
    round_attempts: int
    lease_token: uuid.UUID
    url: str
    secret: str
    previous_secret: str | None


@dataclass(frozen=True)
class _Result:
    outcome: Outcome
    started_at: datetime
    duration_ms: int
    status: int | None = None
    body: str | None = None
    error: str | None = None


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


def _excerpt(data: bytes) -> str | None:
    if not data:
        return None
    return data.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT_BYTES]


class WebhookDeliveryWorker:
    """A `BackgroundWorker` (put it in `ServiceRuntime.workers`): `start()` / `stop()`.
    `run_once()` does one claim-and-deliver pass (tests, or a cron-style runner)."""

    def __init__(
        self,
        db: Database,
        webhooks: Webhooks,
        *,
        http_client: httpx.AsyncClient | None = None,
        schedule: RetrySchedule = RetrySchedule.default(),
        poll_interval: float = 1.0,
        concurrency: int = 16,
        timeout: float = 10.0,
        lease: timedelta = timedelta(seconds=60),
        disable_after: timedelta = timedelta(days=5),
        backlog_interval: float = 15.0,
        target: str | None = None,
        listen: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease.total_seconds() < 2 * timeout:
            raise ValueError("the lease must be at least twice the request timeout")
        self.db = db
        self.webhooks = webhooks
        self.tables = webhooks.tables
        self.schedule = schedule
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.timeout = timeout
        self.lease = lease
        self.disable_after = disable_after
        self.backlog_interval = backlog_interval
        if target is None:
            schema = self.tables.messages.schema
            database = make_url(db.url).database or "webhooks"
            target = f"{database}/{schema}" if schema else database
        self.target = target
        longest = max(schedule.delays, default=0.0)
        self.streak_gap = timedelta(seconds=max(2 * longest, 3600.0))
        self._client = http_client
        self._owns_client = http_client is None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.listen = listen
        self._listener: asyncio.Task[None] | None = None

        messages = _dialect.identifier_preparer.format_table(self.tables.messages)
        endpoints = _dialect.identifier_preparer.format_table(self.tables.endpoints)
        self._claim_sql = text(
            f"""
            WITH due AS (
                SELECT m.id
                FROM {messages} AS m JOIN {endpoints} AS e ON e.id = m.endpoint_id
                WHERE m.status IN ('pending', 'delivering')
                  AND e.status = 'active'
                  AND ((m.status = 'pending' AND m.next_attempt_at <= now())
                       OR (m.status = 'delivering' AND m.locked_until < now()))
                  AND (m.ordering_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM {messages} AS p
                        WHERE p.endpoint_id = m.endpoint_id
                          AND p.ordering_key = m.ordering_key
                          AND p.status IN ('pending', 'delivering')
                          AND p.id < m.id))
                ORDER BY m.next_attempt_at, m.id
                LIMIT :limit
                FOR UPDATE OF m SKIP LOCKED
            )
            UPDATE {messages} AS u
            SET status = 'delivering',
                attempts = u.attempts + 1,
                round_attempts = u.round_attempts + 1,
                locked_until = now() + make_interval(secs => :lease),
                lease_token = gen_random_uuid()
            FROM due, {endpoints} AS e
            WHERE u.id = due.id AND e.id = u.endpoint_id
            RETURNING u.id, u.webhook_id, u.endpoint_id, u.body, u.attempts, u.round_attempts,
                      u.lease_token, e.url, e.secret,
                      CASE WHEN e.previous_secret_expires_at > now()
                           THEN e.previous_secret END AS previous_secret
            """
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=guarded_transport(self.webhooks.allow_private_targets),
                timeout=httpx.Timeout(self.timeout, connect=min(5.0, self.timeout)),
                follow_redirects=False,
                trust_env=False,
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"webhook-worker:{self.target}")
            if self.listen:
                self._listener = asyncio.create_task(
                    self._listen(), name=f"webhook-listener:{self.target}"
                )

    async def stop(self) -> None:
        """Stop claiming, let deliveries in hand finish (each is bounded by the timeout)."""
        self._stopping.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        """Look for due messages now (e.g. right after an in-process commit)."""
        self._wake.set()

    # -- passes ---------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what is due (up to `concurrency`), deliver it, record it; returns how many
        deliveries were attempted."""
        claimed = await self._claim(self.concurrency)
        await asyncio.gather(*(self._deliver(c) for c in claimed))
        return len(claimed)

    async def run(self) -> None:
        next_backlog = 0.0
        failures = 0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                if time.monotonic() >= next_backlog:
                    await self._sample_backlog()
                    next_backlog = time.monotonic() + self.backlog_interval
                free = self.concurrency - len(self._inflight)
                got = 0
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                        failures = 0
                    except Exception:
                        failures += 1
                        log.exception("webhook claim failed (%d in a row)", failures)
                        await self._sleep(min(30.0, self.poll_interval * 2**failures))
                        continue
                    for item in claimed:
                        task = asyncio.create_task(self._deliver(item))
                        self._inflight.add(task)
                        task.add_done_callback(self._done)
                    got = len(claimed)
                if got and len(self._inflight) < self.concurrency:
                    continue  # more may be due right now
                await self._sleep(self.poll_interval, wake=True)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _listen(self) -> None:
        """LISTEN on the tables' channel (enqueue and replay NOTIFY on commit) to deliver at
        once; polling stays the fallback while this connection is down."""
        url = make_url(self.db.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        channel = self.webhooks.notify_channel
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(dsn)
                await conn.add_listener(channel, self._on_notify)
                while not self._stopping.is_set() and not conn.is_closed():
                    await asyncio.sleep(30)
                    await conn.fetchval("select 1")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook LISTEN connection failed; polling meanwhile", exc_info=True)
                await self._sleep(5.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=5))

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a free slot, and maybe the next message of an ordering key

    async def _sleep(self, seconds: float, *, wake: bool = False) -> None:
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _sample_backlog(self) -> None:
        msg = self.tables.messages
        try:
            async with self.db.session() as session:
                count = await session.scalar(
                    select(func.count())
                    .select_from(msg)
                    .where(msg.c.status.in_(("pending", "delivering")))
                )
            metrics.WEBHOOK_BACKLOG.labels(target=self.target).set(count or 0)
        except Exception:
            log.warning("could not sample the webhook backlog", exc_info=True)

    async def _claim(self, limit: int) -> list[_Claimed]:
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    self._claim_sql, {"limit": limit, "lease": self.lease.total_seconds()}
                )
            ).all()
        return [_Claimed(*row) for row in rows]

    # -- one delivery ---------------------------------------------------------------------------

    async def _deliver(self, claimed: _Claimed) -> None:
        try:
            result = await self._attempt(claimed)
        except Exception as exc:  # a bug, not the receiver: record it as a failed attempt
            log.exception("webhook attempt crashed")
            result = _Result("failed", datetime.now(UTC), 0, error=f"internal error: {exc!r}")
        metrics.WEBHOOK_DELIVERIES.labels(target=self.target, outcome=result.outcome).inc()
        metrics.WEBHOOK_DELIVERY_SECONDS.labels(target=self.target, outcome=result.outcome).observe(
            result.duration_ms / 1000
        )
        for attempt in range(3):
            try:
                await self._record(claimed, result)
                return
            except Exception:
                log.warning(
                    "could not record a webhook attempt (try %d)", attempt + 1, exc_info=True
                )
                await asyncio.sleep(0.2 * (attempt + 1))
        # Not recorded: the lease expires and the message is sent again (at least once).
        log.error("gave up recording webhook message %s; it will be retried", claimed.id)

    async def _attempt(self, c: _Claimed) -> _Result:
        started = datetime.now(UTC)
        t0 = time.monotonic()

        def done(outcome: Outcome, **kwargs: Any) -> _Result:
            elapsed = int((time.monotonic() - t0) * 1000)
            return _Result(outcome, started, elapsed, **kwargs)

        try:
            # Checked again at every attempt: DNS may now point elsewhere (the connect-time
            # guard of the default transport closes the remaining race).
            await check_webhook_url(c.url, self.webhooks.allow_private_targets)
        except UnsafeWebhookUrl as exc:
            return done("refused", error=f"refused: {exc.reason}")
        box = self.webhooks.box
        secrets = [box.open(c.secret)]
        if c.previous_secret is not None:
            secrets.append(box.open(c.previous_secret))
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": c.webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(secrets, c.webhook_id, now, c.body),
        }
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().stream(
                    "POST", c.url, content=c.body.encode(), headers=headers, follow_redirects=False
                ) as response:
                    excerpt = _excerpt(await _read_capped(response, RESPONSE_EXCERPT_BYTES))
                    status = response.status_code
        except TimeoutError:
            return done("failed", error=f"timed out after {self.timeout:g} s")
        except httpx.HTTPError as exc:
            message = str(exc) or type(exc).__name__
            outcome: Outcome = "refused" if message.startswith("refused:") else "failed"
            return done(outcome, error=f"{type(exc).__name__}: {message}"[:1000])
        if 200 <= status < 300:
            return done("delivered", status=status, body=excerpt)
        if status == 410:
            return done("gone", status=status, body=excerpt, error="410 Gone")
        return done("failed", status=status, body=excerpt, error=f"HTTP {status}")

    async def _record(self, c: _Claimed, r: _Result) -> None:
        ep, msg, att = self.tables.endpoints, self.tables.messages, self.tables.attempts
        async with self.db.transaction() as session:
            exists = await session.scalar(
                select(msg.c.id).where(msg.c.id == c.id).with_for_update()
            )
            if exists is None:
                return  # deleted with its endpoint meanwhile: nothing left to record
            await session.execute(
                insert(att).values(
                    id=new_id(),
                    message_id=c.id,
                    attempt=c.attempts,
                    trigger="replay" if c.round_attempts == 1 and c.attempts > 1 else "scheduled",
                    started_at=r.started_at,
                    duration_ms=r.duration_ms,
                    outcome=r.outcome,
                    response_status=r.status,
                    response_body=r.body,
                    error=r.error,
                )
            )
            mine = (msg.c.id == c.id) & (msg.c.lease_token == c.lease_token)
            common: dict[str, Any] = {
                "locked_until": None,
                "lease_token": None,
                "last_status": r.status,
                "last_error": r.error,
            }
            if r.outcome == "delivered":
                await session.execute(
                    update(msg)
                    .where(mine)
                    .values(status="delivered", delivered_at=func.now(), **common)
                )
                await session.execute(
                    update(ep)
                    .where(ep.c.id == c.endpoint_id, ep.c.failing_since.is_not(None))
                    .values(failing_since=None, last_failure_at=None)
                )
                return
            final = r.outcome == "gone"
            if final:
                if await disable(
                    session, self.tables, c.endpoint_id, "the endpoint answered 410 Gone"
                ):
                    metrics.WEBHOOK_ENDPOINTS_DISABLED.labels(reason="gone").inc()
                    log.warning("webhook endpoint %s disabled: 410 Gone", c.endpoint_id)
            else:
                await self._failure_streak(session, c.endpoint_id)
            delay = self.schedule.delay_after(c.round_attempts)
            active = await session.scalar(
                select(ep.c.status == "active").where(ep.c.id == c.endpoint_id)
            )
            if final or delay is None or not active:
                result = await session.execute(
                    update(msg).where(mine).values(status="failed", failed_at=func.now(), **common)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    metrics.WEBHOOK_MESSAGES_FAILED.labels(target=self.target).inc()
            else:
                await session.execute(
                    update(msg)
                    .where(mine)
                    .values(status="pending", next_attempt_at=func.now() + delay, **common)
                )

    async def _failure_streak(self, session: AsyncSession, endpoint_id: uuid.UUID) -> None:
        """Extend or start the endpoint's failure streak; disable it when the streak is older
        than `disable_after`."""
        ep = self.tables.endpoints
        new_streak = or_(
            ep.c.failing_since.is_(None), ep.c.last_failure_at < func.now() - self.streak_gap
        )
        row = (
            await session.execute(
                update(ep)
                .where(ep.c.id == endpoint_id)
                .values(
                    failing_since=case((new_streak, func.now()), else_=ep.c.failing_since),
                    last_failure_at=func.now(),
                )
                .returning(
                    ep.c.status,
                    (ep.c.failing_since <= func.now() - self.disable_after).label("sustained"),
                    ep.c.failing_since,
                )
            )
        ).first()
        if row is not None and row.status == "active" and row.sustained:
            since = row.failing_since.isoformat()
            if await disable(session, self.tables, endpoint_id, f"failing since {since}"):
                metrics.WEBHOOK_ENDPOINTS_DISABLED.labels(reason="failing").inc()
                log.warning("webhook endpoint %s disabled: failing since %s", endpoint_id, since)
