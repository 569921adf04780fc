"""Outgoing webhooks on real PostgreSQL, delivered over real HTTP to a local receiver (uvicorn on
127.0.0.1): signatures, retries, exactly-once by webhook-id, 410, ordering, concurrent workers,
lease expiry, SSRF, rotation, owner isolation, replay."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Header
from sqlalchemy import MetaData, func, select, text, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from umkm_shared.db import Database
from umkm_shared.errors import NotFound
from umkm_shared.runtime import BackgroundWorker
from umkm_shared.web import install_error_handlers
from umkm_shared.webhooks import (
    EndpointOut,
    RetrySchedule,
    UnsafeWebhookUrl,
    WebhookDeliveryWorker,
    Webhooks,
    WebhookTables,
    check_webhook_url,
    define_webhook_tables,
    webhook_router,
)
from umkm_shared.webhooks.ssrf import _GuardedBackend

FAST = RetrySchedule([0, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])


async def wait_until(predicate: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.03)


# -- a real HTTP receiver ----------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    """Answers POST /<path>: the statuses queued in `script[path]` first, then `default[path]`
    (200). Records every request; `accepted` is what a deduplicating receiver keeps."""

    base_url: str = ""
    script: dict[str, list[int]] = field(default_factory=dict)
    default: dict[str, int] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    delay: float = 0.0
    # path -> (bytes in the body, statuses): script only the requests carrying those bytes
    script_matching: dict[str, tuple[bytes, list[int]]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def accepted(self, path: str) -> Counter[str]:
        """2xx answers by webhook-id: a receiver deduplicating by webhook-id stores these."""
        return Counter(r.headers["webhook-id"] for r in self.on(path) if 200 <= r.status < 300)

    async def handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        queue = self.script.get(path)
        if path in self.script_matching and self.script_matching[path][0] in body:
            queue = self.script_matching[path][1]
        status = queue.pop(0) if queue else self.default.get(path, 200)
        self.requests.append(Received(path, dict(request.headers), body, status, time.monotonic()))
        return Response(f"status {status} " + "x" * 3000, status_code=status)


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    from starlette.applications import Starlette

    rec = Receiver()
    app = Starlette(routes=[Route("/{path:path}", rec.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        await asyncio.sleep(0.02)
    rec.base_url = f"http://127.0.0.1:{port}"
    yield rec
    server.should_exit = True
    await task
    sock.close()


# -- database and tables: one schema per test ---------------------------------------------------


@pytest.fixture(scope="module")
async def db(make_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[Database]:
    database = Database(await make_database("webhooks"))
    yield database
    await database.dispose()


@dataclass
class Env:
    db: Database
    tables: WebhookTables
    webhooks: Webhooks
    receiver: Receiver
    owner: tuple[str, str]
    workers: list[WebhookDeliveryWorker] = field(default_factory=list)

    def worker(self, db: Database | None = None, **kwargs: Any) -> WebhookDeliveryWorker:
        kwargs.setdefault("schedule", FAST)
        kwargs.setdefault("poll_interval", 0.02)
        kwargs.setdefault("timeout", 5.0)
        kwargs.setdefault("lease", timedelta(seconds=10))
        kwargs.setdefault("webhooks", self.webhooks)
        worker = WebhookDeliveryWorker(db or self.db, **kwargs)
        self.workers.append(worker)
        return worker

    async def endpoint(self, path: str, **kwargs: Any) -> EndpointOut:
        async with self.db.transaction() as session:
            return await self.webhooks.register_endpoint(
                session, *self.owner, self.receiver.url(path), **kwargs
            )

    async def enqueue(
        self, event_type: str, payload: dict[str, Any], **kwargs: Any
    ) -> list[uuid.UUID]:
        async with self.db.transaction() as session:
            return await self.webhooks.enqueue(session, *self.owner, event_type, payload, **kwargs)

    async def messages(self, **where: Any) -> list[Any]:
        msg = self.tables.messages
        query = select(msg).order_by(msg.c.id)
        for key, value in where.items():
            query = query.where(msg.c[key] == value)
        async with self.db.session() as session:
            return list((await session.execute(query)).all())

    async def attempts(self) -> list[Any]:
        att = self.tables.attempts
        async with self.db.session() as session:
            return list((await session.execute(select(att).order_by(att.c.started_at))).all())

    async def endpoint_row(self, endpoint_id: uuid.UUID) -> Any:
        ep = self.tables.endpoints
        async with self.db.session() as session:
            return (await session.execute(select(ep).where(ep.c.id == endpoint_id))).one()

    async def all_done(self) -> bool:
        rows = await self.messages()
        return bool(rows) and all(r.status in ("delivered", "failed") for r in rows)


@pytest.fixture
async def env(db: Database, receiver: Receiver) -> AsyncIterator[Env]:
    schema = f"wh_{uuid.uuid4().hex[:10]}"
    async with db.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        metadata = MetaData(schema=schema)
        tables = define_webhook_tables(metadata)
        await conn.run_sync(metadata.create_all)
    e = Env(
        db=db,
        tables=tables,
        webhooks=Webhooks(tables, allow_private_targets=True),
        receiver=receiver,
        owner=("anchor", str(uuid.uuid4())),
    )
    yield e
    for worker in e.workers:
        await worker.stop()


def path() -> str:
    return f"hook-{uuid.uuid4().hex[:8]}"


# -- signing ------------------------------------------------------------------------------------


async def test_delivery_is_signed_and_logged(env: Env) -> None:
    p = path()
    ep = await env.endpoint(p)
    assert ep.secret is not None and ep.secret.startswith("whsec_")
    ids = await env.enqueue("purchase_order.created", {"po_id": "PO-1", "amount_idr": 1_500_000})
    assert len(ids) == 1
    assert await env.worker().run_once() == 1

    [req] = env.receiver.on(p)
    assert req.headers["content-type"] == "application/json"
    assert req.headers["webhook-id"].startswith("msg_")
    assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60
    payload = Webhook(ep.secret).verify(req.body, req.headers)
    assert payload["type"] == "purchase_order.created"
    assert payload["data"] == {"po_id": "PO-1", "amount_idr": 1_500_000}
    assert payload["timestamp"].endswith("Z")
    # another secret does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=").verify(req.body, req.headers)

    [msg] = await env.messages()
    assert (msg.status, msg.attempts, msg.webhook_id) == ("delivered", 1, req.headers["webhook-id"])
    assert msg.body.encode() == req.body  # the stored bytes are the bytes sent
    [att] = await env.attempts()
    assert (att.attempt, att.outcome, att.response_status) == (1, "delivered", 200)
    assert att.response_body.startswith("status 200") and len(att.response_body) <= 1024
    # the secret is never stored in clear text ... unless no key is configured: plain: marker
    row = await env.endpoint_row(ep.id)
    assert row.secret == "plain:" + ep.secret
    # and is not returned on reads
    async with env.db.session() as session:
        again = await env.webhooks.get_endpoint(session, *env.owner, ep.id)
    assert again.secret is None


async def test_secrets_sealed_with_a_key(env: Env) -> None:
    webhooks = Webhooks(env.tables, allow_private_targets=True, secret_key=b"k" * 32)
    env.webhooks = webhooks
    p = path()
    ep = await env.endpoint(p)
    assert ep.secret is not None
    row = await env.endpoint_row(ep.id)
    assert row.secret.startswith("v1:") and ep.secret not in row.secret
    await env.enqueue("invoice.paid", {"n": 1})
    assert await env.worker().run_once() == 1
    [req] = env.receiver.on(p)
    Webhook(ep.secret).verify(req.body, req.headers)


# -- retries and exactly-once ------------------------------------------------------------------


async def test_receiver_failing_then_recovering_gets_every_event_once(env: Env) -> None:
    p = path()
    env.receiver.script[p] = [500, 503, 502]  # down for its first three requests
    await env.endpoint(p)
    sent = [await env.enqueue("invoice.paid", {"invoice": n}) for n in range(6)]
    worker = env.worker(concurrency=4)
    await worker.start()
    await wait_until(env.all_done)
    await worker.stop()

    messages = await env.messages()
    assert all(m.status == "delivered" for m in messages)
    accepted = env.receiver.accepted(p)
    assert sorted(accepted) == sorted(m.webhook_id for m in messages)
    assert set(accepted.values()) == {1}, "every event exactly once by webhook-id"
    assert len(sent) == len(accepted) == 6
    # every attempt is logged, failures included, numbered per message
    attempts = await env.attempts()
    assert len(attempts) == len(env.receiver.on(p)) == 6 + 3
    assert sorted(a.response_status for a in attempts if a.outcome == "failed") == [500, 502, 503]
    by_message = Counter(a.message_id for a in attempts)
    for m in messages:
        assert m.attempts == by_message[m.id]
        numbers = sorted(a.attempt for a in attempts if a.message_id == m.id)
        assert numbers == list(range(1, m.attempts + 1))
    # webhook-id is stable across the retries of one message
    for wid in accepted:
        tries = [r for r in env.receiver.on(p) if r.headers["webhook-id"] == wid]
        assert len({r.body for r in tries}) == 1


async def test_schedule_exhausted_marks_failed_and_replay_since(env: Env) -> None:
    p = path()
    env.receiver.default[p] = 500
    ep = await env.endpoint(p)
    before = datetime.now(UTC) - timedelta(seconds=1)
    await env.enqueue("invoice.paid", {"n": 1})
    worker = env.worker(schedule=RetrySchedule([0, 0.05, 0.05]))
    await worker.start()
    await wait_until(env.all_done)
    await worker.stop()
    [msg] = await env.messages()
    assert (msg.status, msg.attempts, msg.last_status) == ("failed", 3, 500)
    assert (await env.endpoint_row(ep.id)).status == "active"  # not failing long enough

    env.receiver.default[p] = 200
    async with env.db.transaction() as session:
        n = await env.webhooks.replay_failed(session, *env.owner, ep.id, before)
    assert n == 1
    assert await worker.run_once() == 1
    [msg] = await env.messages()
    assert (msg.status, msg.attempts) == ("delivered", 4)
    assert len(env.receiver.accepted(p)) == 1
    assert (await env.attempts())[-1].trigger == "replay"


async def test_sustained_failure_disables_endpoint(env: Env) -> None:
    p = path()
    env.receiver.default[p] = 500
    ep = await env.endpoint(p)
    await env.enqueue("invoice.paid", {"n": 1})
    await env.enqueue("invoice.paid", {"n": 2})
    worker = env.worker(
        schedule=RetrySchedule([0] + [0.1] * 50), disable_after=timedelta(seconds=0.5)
    )
    await worker.start()

    async def disabled() -> bool:
        return bool((await env.endpoint_row(ep.id)).status == "disabled")

    await wait_until(disabled)
    await worker.stop()
    row = await env.endpoint_row(ep.id)
    assert row.disabled_reason.startswith("failing since")
    assert all(m.status == "failed" for m in await env.messages())
    # nothing is attempted for a disabled endpoint; a new event is recorded as failed
    await env.enqueue("invoice.paid", {"n": 3})
    assert await worker.run_once() == 0
    assert [m.status for m in await env.messages()] == ["failed"] * 3


async def test_410_disables_endpoint_at_once(env: Env) -> None:
    p = path()
    env.receiver.default[p] = 410
    ep = await env.endpoint(p)
    await env.enqueue("invoice.paid", {"n": 1})
    await env.enqueue("invoice.paid", {"n": 2}, ordering_key="po-1")
    await env.enqueue("invoice.paid", {"n": 3}, ordering_key="po-1")
    worker = env.worker(concurrency=1)
    assert await worker.run_once() == 1
    row = await env.endpoint_row(ep.id)
    assert row.status == "disabled" and "410" in row.disabled_reason
    assert [m.status for m in await env.messages()] == ["failed"] * 3
    assert await worker.run_once() == 0
    assert len(env.receiver.on(p)) == 1
    [att] = await env.attempts()
    assert (att.outcome, att.response_status) == ("gone", 410)

    # enabling resumes deliveries of new messages; the missed ones come back by replay
    env.receiver.default[p] = 200
    async with env.db.transaction() as session:
        out = await env.webhooks.enable_endpoint(session, *env.owner, ep.id)
        assert out.status == "active" and out.disabled_reason is None
        n = await env.webhooks.replay_failed(
            session, *env.owner, ep.id, datetime.now(UTC) - timedelta(minutes=1)
        )
    assert n == 3
    worker.concurrency = 10
    while await worker.run_once():
        pass
    assert len(env.receiver.accepted(p)) == 3


async def test_redirects_not_followed_and_timeouts_fail(env: Env) -> None:
    p = path()
    env.receiver.script[p] = [302]
    await env.endpoint(p)
    await env.enqueue("invoice.paid", {"n": 1})
    worker = env.worker(timeout=0.3, schedule=RetrySchedule([0, 0, 0]))
    assert await worker.run_once() == 1
    env.receiver.delay = 1.0
    try:
        assert await worker.run_once() == 1
    finally:
        env.receiver.delay = 0.0
    assert await worker.run_once() == 1
    attempts = await env.attempts()
    assert [(a.outcome, a.response_status) for a in attempts] == [
        ("failed", 302),
        ("failed", None),
        ("delivered", 200),
    ]
    assert "timed out" in attempts[1].error
    assert attempts[1].duration_ms < 900


async def test_started_worker_wakes_on_commit(env: Env) -> None:
    """NOTIFY on commit: delivered at once although the worker polls only every 30 s."""
    p = path()
    await env.endpoint(p)
    worker = env.worker(poll_interval=30.0)
    runtime_worker: BackgroundWorker = worker  # fits ServiceRuntime.workers
    await runtime_worker.start()
    await asyncio.sleep(0.5)  # the listener connects
    t0 = time.monotonic()
    await env.enqueue("invoice.paid", {"n": 1})

    async def delivered() -> bool:
        return len(env.receiver.on(p)) == 1

    await wait_until(delivered, seconds=5)
    assert time.monotonic() - t0 < 3
    await runtime_worker.stop()


async def test_migration_helpers_create_and_drop(db: Database) -> None:
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from umkm_shared.webhooks import create_webhook_tables, drop_webhook_tables

    schema = f"mig_{uuid.uuid4().hex[:8]}"

    def upgrade(conn: Any) -> list[str]:
        op = Operations(MigrationContext.configure(conn))
        create_webhook_tables(op, schema=schema)
        return sorted(inspect(conn).get_table_names(schema=schema))

    def indexes(conn: Any) -> list[str]:
        found = inspect(conn).get_indexes("webhook_messages", schema=schema)
        return sorted(i["name"] or "" for i in found)

    def downgrade(conn: Any) -> list[str]:
        drop_webhook_tables(Operations(MigrationContext.configure(conn)), schema=schema)
        return list(inspect(conn).get_table_names(schema=schema))

    async with db.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        assert await conn.run_sync(upgrade) == [
            "webhook_attempts",
            "webhook_endpoints",
            "webhook_messages",
        ]
        assert await conn.run_sync(indexes) == [
            "ix_webhook_messages_due",
            "ix_webhook_messages_endpoint",
            "ix_webhook_messages_ordering",
            "uq_webhook_messages_endpoint_webhook_id",
        ]
        # the migration's tables work with the module
        metadata = MetaData(schema=schema)
        tables = define_webhook_tables(metadata)
    webhooks = Webhooks(tables, allow_private_targets=True)
    async with db.transaction() as session:
        ep = await webhooks.register_endpoint(session, "bank", "bank-bri", "http://127.0.0.1:9/x")
        assert await webhooks.enqueue(session, "bank", "bank-bri", "offer.made", {"n": 1})
        await webhooks.delete_endpoint(session, "bank", "bank-bri", ep.id)
    async with db.engine.begin() as conn:
        assert await conn.run_sync(downgrade) == []


# -- ordering -----------------------------------------------------------------------------------


async def test_ordering_key_keeps_order_under_failure(env: Env) -> None:
    p = path()
    env.receiver.script_matching[p] = (b'"seq":0', [500, 500])  # the first one fails twice
    await env.endpoint(p)
    ordered = [await env.enqueue("po.updated", {"seq": n}, ordering_key="PO-7") for n in range(4)]
    other = await env.enqueue("po.updated", {"seq": 99}, ordering_key="PO-8")
    loose = await env.enqueue("po.updated", {"seq": -1})
    worker = env.worker(concurrency=8)
    await worker.start()
    await wait_until(env.all_done)
    await worker.stop()

    by_id = {m.id: m.webhook_id for m in await env.messages()}
    ordered_ids = [by_id[i[0]] for i in ordered]
    sequence = [r for r in env.receiver.on(p) if r.headers["webhook-id"] in ordered_ids]
    # one at a time, in creation order; the first failed twice before any other was sent
    assert [r.headers["webhook-id"] for r in sequence] == [ordered_ids[0]] * 3 + ordered_ids[1:]
    assert [r.status for r in sequence] == [500, 500, 200, 200, 200, 200]
    assert set(env.receiver.accepted(p)) == set(by_id.values())
    assert by_id[other[0]] in env.receiver.accepted(p) and by_id[loose[0]] in env.receiver.accepted(
        p
    )


# -- concurrency and crashes ---------------------------------------------------------------------


async def test_two_workers_never_deliver_one_message_twice(env: Env) -> None:
    p = path()
    env.receiver.delay = 0.005
    try:
        await env.endpoint(p)
        async with env.db.transaction() as session:
            for n in range(150):
                await env.webhooks.enqueue(session, *env.owner, "invoice.paid", {"n": n})
        other_db = Database(env.db.url)
        try:
            a = env.worker(concurrency=16)
            b = env.worker(db=other_db, concurrency=16)

            async def drain(w: WebhookDeliveryWorker) -> int:
                total = 0
                while n := await w.run_once():
                    total += n
                return total

            counts = await asyncio.gather(drain(a), drain(b), drain(a), drain(b))
        finally:
            await other_db.dispose()
    finally:
        env.receiver.delay = 0.0
    assert sum(counts) == 150
    assert all(c > 0 for c in counts[:2]), counts
    accepted = env.receiver.accepted(p)
    assert len(accepted) == 150 and set(accepted.values()) == {1}
    assert len(env.receiver.on(p)) == 150
    assert len(await env.attempts()) == 150


async def test_claim_of_a_crashed_worker_expires(env: Env) -> None:
    p = path()
    await env.endpoint(p)
    await env.enqueue("invoice.paid", {"n": 1})
    crashed = env.worker(timeout=0.5, lease=timedelta(seconds=1))
    [claimed] = await crashed._claim(10)  # claimed, then the worker "dies"
    other = env.worker(timeout=0.5, lease=timedelta(seconds=1))
    assert await other.run_once() == 0  # the lease still holds
    await asyncio.sleep(1.1)
    assert await other.run_once() == 1
    [msg] = await env.messages()
    assert (msg.status, msg.attempts) == ("delivered", 2)
    assert len(env.receiver.on(p)) == 1
    # the crashed worker coming back late cannot overwrite the newer outcome
    from umkm_shared.webhooks.worker import _Result

    await crashed._record(claimed, _Result("failed", datetime.now(UTC), 5, error="late"))
    [msg] = await env.messages()
    assert msg.status == "delivered"


async def test_endpoint_deleted_during_delivery(env: Env) -> None:
    ep = await env.endpoint(path())
    await env.enqueue("invoice.paid", {"n": 1})
    worker = env.worker()
    [claimed] = await worker._claim(10)
    async with env.db.transaction() as session:
        await env.webhooks.delete_endpoint(session, *env.owner, ep.id)
    await worker._deliver(claimed)  # records nothing, raises nothing
    assert await env.messages() == [] and await env.attempts() == []


# -- SSRF ---------------------------------------------------------------------------------------

REFUSED = [
    "https://127.0.0.1/hook",
    "https://127.1.2.3:8443/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.9/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.100.100.200/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00:ec2::254]/",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[::ffff:169.254.169.254]/",
    "https://[64:ff9b::a00:1]/",
    "https://localhost/hook",
    "https://api.localhost/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "http://93.184.215.14/hook",
    "ftp://93.184.215.14/hook",
    "https://user:pw@93.184.215.14/hook",
    "https:///nohost",
    "https://93.184.215.14/a b",
    "https://93.184.215.14/\r\nX-Injected: 1",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_ssrf_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as info:
        await check_webhook_url(url, allow_private=False)
    assert info.value.status == 422
    assert [e.field for e in info.value.errors] == ["url"]


async def test_ssrf_allows_public_https_and_private_in_test_mode() -> None:
    assert await check_webhook_url("https://93.184.215.14/hook", allow_private=False)
    assert await check_webhook_url("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", False)
    assert await check_webhook_url("http://127.0.0.1:8000/hook", allow_private=True)
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url("ftp://127.0.0.1/hook", allow_private=True)


async def test_ssrf_connect_time_guard_vets_resolved_addresses() -> None:
    """The worker's transport resolves and vets at connect time (DNS rebinding)."""
    backend = _GuardedBackend(allow_private=False)
    with pytest.raises(httpcore.ConnectError, match="refused"):
        await backend.connect_tcp("localhost", 80, timeout=1)
    with pytest.raises(httpcore.ConnectError, match="refused"):
        await backend.connect_tcp("127.0.0.1", 80, timeout=1)


async def test_ssrf_rechecked_at_delivery(env: Env) -> None:
    p = path()
    await env.endpoint(p)  # registered in test mode
    await env.enqueue("invoice.paid", {"n": 1})
    strict = Webhooks(env.tables, allow_private_targets=False)
    worker = env.worker(webhooks=strict, schedule=RetrySchedule([0]))
    assert await worker.run_once() == 1
    assert env.receiver.on(p) == []
    [att] = await env.attempts()
    assert att.outcome == "refused" and "http" in att.error
    [msg] = await env.messages()
    assert msg.status == "failed"


async def test_ssrf_refused_at_registration_names_url(env: Env) -> None:
    strict = Webhooks(env.tables, allow_private_targets=False)
    async with env.db.transaction() as session:
        with pytest.raises(UnsafeWebhookUrl) as info:
            await strict.register_endpoint(session, *env.owner, "https://127.0.0.1/x")
    assert info.value.errors[0].field == "url"


# -- secrets ------------------------------------------------------------------------------------


async def test_rotation_signs_with_both_secrets_during_grace(env: Env) -> None:
    p = path()
    ep = await env.endpoint(p)
    async with env.db.transaction() as session:
        rotated = await env.webhooks.rotate_secret(session, *env.owner, ep.id)
    assert rotated.secret and rotated.secret != ep.secret
    assert rotated.previous_secret_expires_at is not None
    grace = rotated.previous_secret_expires_at - datetime.now(UTC)
    assert timedelta(hours=23) < grace <= timedelta(hours=24)
    await env.enqueue("invoice.paid", {"n": 1})
    worker = env.worker()
    assert await worker.run_once() == 1
    [req] = env.receiver.on(p)
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    assert ep.secret is not None
    Webhook(ep.secret).verify(req.body, req.headers)
    Webhook(rotated.secret).verify(req.body, req.headers)

    # after the grace period only the new secret signs
    ep_table = env.tables.endpoints
    async with env.db.transaction() as session:
        await session.execute(
            update(ep_table)
            .where(ep_table.c.id == ep.id)
            .values(previous_secret_expires_at=func.now() - timedelta(seconds=1))
        )
    await env.enqueue("invoice.paid", {"n": 2})
    assert await worker.run_once() == 1
    last = env.receiver.on(p)[-1]
    Webhook(rotated.secret).verify(last.body, last.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(ep.secret).verify(last.body, last.headers)


# -- enqueue ------------------------------------------------------------------------------------


async def test_enqueue_is_transactional_filtered_and_idempotent(env: Env) -> None:
    all_types = await env.endpoint(path())
    only_po = await env.endpoint(path(), event_types=["po.created"])
    # rolled back with the caller's transaction: nothing queued
    with pytest.raises(RuntimeError):
        async with env.db.transaction() as session:
            await env.webhooks.enqueue(session, *env.owner, "po.created", {"n": 1})
            raise RuntimeError("the business change failed")
    assert await env.messages() == []

    ids = await env.enqueue("po.created", {"n": 1}, message_id="evt-42")
    assert len(ids) == 2
    assert await env.enqueue("po.created", {"n": 1}, message_id="evt-42") == ids  # a retried job
    assert len(await env.enqueue("invoice.paid", {"n": 2})) == 1
    rows = await env.messages()
    assert len(rows) == 3
    assert {r.endpoint_id for r in rows if r.event_type == "invoice.paid"} == {all_types.id}
    assert {r.webhook_id for r in rows if r.event_type == "po.created"} == {"evt-42"}
    assert only_po.event_types == ["po.created"]
    # another owner's events never reach these endpoints
    async with env.db.transaction() as session:
        assert await env.webhooks.enqueue(session, "anchor", "someone-else", "po.created", {}) == []


# -- the HTTP API -------------------------------------------------------------------------------


def api(env: Env) -> httpx.AsyncClient:
    def owner(x_owner: str = Header()) -> tuple[str, str]:
        kind, _, ident = x_owner.partition(":")
        return kind, ident

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(webhook_router(env.webhooks, owner, db=env.db))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_api_refuses_unsafe_url_with_problem_naming_url(env: Env) -> None:
    strict = Webhooks(env.tables, allow_private_targets=False)
    env.webhooks = strict
    async with api(env) as client:
        for url in ("https://127.0.0.1/x", "https://169.254.169.254/", "http://93.184.215.14/"):
            r = await client.post(
                "/v1/webhook-endpoints", json={"url": url}, headers={"X-Owner": "anchor:a1"}
            )
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in r.json()["errors"]] == ["body.url"]


async def test_api_lifecycle_and_owner_isolation(env: Env) -> None:
    p = path()
    a = {"X-Owner": f"anchor:{env.owner[1]}"}
    b = {"X-Owner": "anchor:another-anchor"}
    async with api(env) as client:
        r = await client.post(
            "/v1/webhook-endpoints",
            json={"url": env.receiver.url(p), "event_types": ["po.created"], "description": "ERP"},
            headers=a,
        )
        assert r.status_code == 201, r.text
        created = r.json()
        eid = created["id"]
        assert created["secret"].startswith("whsec_")
        r = await client.get(f"/v1/webhook-endpoints/{eid}", headers=a)
        assert r.status_code == 200 and r.json()["secret"] is None
        assert [
            e["id"] for e in (await client.get("/v1/webhook-endpoints", headers=a)).json()["items"]
        ] == [eid]

        await env.enqueue("po.created", {"n": 1})
        assert await env.worker().run_once() == 1
        page = (await client.get(f"/v1/webhook-endpoints/{eid}/messages", headers=a)).json()
        [message] = page["items"]
        mid = message["id"]
        assert message["status"] == "delivered" and message["payload"]["data"] == {"n": 1}

        # the other owner sees nothing and can touch nothing: 404, never 403
        assert (await client.get("/v1/webhook-endpoints", headers=b)).json()["items"] == []
        probes = [
            ("GET", f"/v1/webhook-endpoints/{eid}", None),
            ("PATCH", f"/v1/webhook-endpoints/{eid}", {"status": "disabled"}),
            ("POST", f"/v1/webhook-endpoints/{eid}/rotate-secret", None),
            ("GET", f"/v1/webhook-endpoints/{eid}/messages", None),
            ("POST", f"/v1/webhook-endpoints/{eid}/replay?since=2020-01-01T00:00:00Z", None),
            ("GET", f"/v1/webhook-messages/{mid}", None),
            ("GET", f"/v1/webhook-messages/{mid}/attempts", None),
            ("POST", f"/v1/webhook-messages/{mid}/replay", None),
            ("DELETE", f"/v1/webhook-endpoints/{eid}", None),
        ]
        for method, url, body in probes:
            r = await client.request(method, url, json=body, headers=b)
            assert r.status_code == 404, (method, url, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
        assert (await client.get(f"/v1/webhook-endpoints/{eid}", headers=a)).json()[
            "status"
        ] == "active"

        # attempts and replay (same webhook-id: a replay is the same event)
        attempts = (await client.get(f"/v1/webhook-messages/{mid}/attempts", headers=a)).json()
        assert [x["response_status"] for x in attempts["items"]] == [200]
        r = await client.post(f"/v1/webhook-messages/{mid}/replay", headers=a)
        assert r.status_code == 202 and r.json()["status"] == "pending"
        r = await client.post(f"/v1/webhook-messages/{mid}/replay", headers=a)
        assert r.status_code == 409  # still pending
        assert await env.worker().run_once() == 1
        sent = env.receiver.on(p)
        assert len(sent) == 2 and sent[0].headers["webhook-id"] == sent[1].headers["webhook-id"]
        assert sent[0].body == sent[1].body
        attempts = (await client.get(f"/v1/webhook-messages/{mid}/attempts", headers=a)).json()
        assert [x["trigger"] for x in attempts["items"]] == ["scheduled", "replay"]

        # patch, disable/enable, rotate, delete
        r = await client.patch(
            f"/v1/webhook-endpoints/{eid}",
            json={"event_types": None, "status": "disabled"},
            headers=a,
        )
        assert r.status_code == 200 and r.json()["status"] == "disabled"
        assert r.json()["event_types"] is None and r.json()["disabled_reason"]
        r = await client.patch(f"/v1/webhook-endpoints/{eid}", json={"status": "active"}, headers=a)
        assert r.json()["status"] == "active"
        r = await client.patch(
            f"/v1/webhook-endpoints/{eid}", json={"url": "https://10.0.0.1/"}, headers=a
        )
        assert r.status_code == 200  # test mode allows private targets
        r = await client.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", headers=a)
        assert r.status_code == 200 and r.json()["secret"] != created["secret"]
        assert (await client.delete(f"/v1/webhook-endpoints/{eid}", headers=a)).status_code == 204
        assert (await client.get(f"/v1/webhook-endpoints/{eid}", headers=a)).status_code == 404
        assert (await client.get(f"/v1/webhook-messages/{mid}", headers=a)).status_code == 404


async def test_api_message_pages_and_status_filter(env: Env) -> None:
    p = path()
    env.receiver.script[p] = [500]
    ep = await env.endpoint(p)
    for n in range(5):
        await env.enqueue("invoice.paid", {"n": n})
    await env.worker(schedule=RetrySchedule([0])).run_once()
    headers = {"X-Owner": f"anchor:{env.owner[1]}"}
    async with api(env) as client:
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (
                await client.get(
                    f"/v1/webhook-endpoints/{ep.id}/messages", params=params, headers=headers
                )
            ).json()
            seen += [m["payload"]["data"]["n"] for m in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [4, 3, 2, 1, 0]  # newest first
        failed = (
            await client.get(
                f"/v1/webhook-endpoints/{ep.id}/messages",
                params={"status": "failed"},
                headers=headers,
            )
        ).json()["items"]
        assert len(failed) == 1
        r = await client.get(
            f"/v1/webhook-endpoints/{ep.id}/messages", params={"cursor": "%%%"}, headers=headers
        )
        assert r.status_code == 422


async def test_service_methods_raise_not_found_for_other_owner(env: Env) -> None:
    ep = await env.endpoint(path())
    other = ("bank", "bank-bri")
    async with env.db.transaction() as session:
        for call in (
            env.webhooks.get_endpoint(session, *other, ep.id),
            env.webhooks.rotate_secret(session, *other, ep.id),
            env.webhooks.disable_endpoint(session, *other, ep.id),
            env.webhooks.enable_endpoint(session, *other, ep.id),
            env.webhooks.delete_endpoint(session, *other, ep.id),
        ):
            with pytest.raises(NotFound):
                await call
