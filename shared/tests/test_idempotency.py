"""Idempotency-Key semantics against real PostgreSQL: replay, mismatch, in-progress, races."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import httpx
import pytest_asyncio
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.db import Database
from umkm_shared.errors import Conflict
from umkm_shared.idempotency import (
    IdempotencyDep,
    OptionalIdempotencyDep,
    create_idempotency_table,
    drop_idempotency_table,
    fingerprint,
)
from umkm_shared.settings import ServiceSettings
from umkm_shared.web import create_service_app

PROBLEM = "application/problem+json"
ClientId = Annotated[str, Header(alias="X-Client")]
orders = sa.table("orders", sa.column("id", sa.Integer), sa.column("client_id"), sa.column("item"))


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.transaction() as session:
        yield session


# scope="function": the transaction commits before the response is sent.
Session = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


class OrderIn(BaseModel):
    item: str
    sleep: float = 0


class OrderOut(BaseModel):
    id: int
    item: str


def _migrate(conn: sa.Connection) -> None:
    op = Operations(MigrationContext.configure(conn))
    create_idempotency_table(op)
    drop_idempotency_table(op)
    create_idempotency_table(op)
    op.execute("create table orders (id serial primary key, client_id text, item text)")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(make_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[Database]:
    database = Database(await make_database("shared_idem"), pool_size=5)
    async with database.engine.begin() as conn:
        await conn.run_sync(_migrate)
    yield database
    await database.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    failures: list[str] = []
    r = APIRouter()

    async def place(session: AsyncSession, client: str, order: OrderIn) -> OrderOut:
        new_id = (
            await session.execute(
                sa.insert(orders).values(client_id=client, item=order.item).returning(orders.c.id)
            )
        ).scalar_one()
        await asyncio.sleep(order.sleep)
        if order.item in failures:
            failures.remove(order.item)
            raise Conflict(detail="Stock changed; try again.")
        return OrderOut(id=new_id, item=order.item)

    @r.post("/v1/orders", status_code=201, response_model=OrderOut)
    async def create(order: OrderIn, idem: IdempotencyDep, client: ClientId) -> Response:
        async with db.transaction() as session:  # the request's unit of work
            return await idem.run(
                session, client, lambda: place(session, client, order), status_code=201
            )

    @r.post("/v1/orders/{item}/fail-once")
    async def fail_once(item: str) -> None:
        failures.append(item)

    @r.post("/v1/shipments", status_code=202)
    async def ship(
        order: OrderIn, idem: OptionalIdempotencyDep, client: ClientId, session: Session
    ) -> Response:
        async def handler() -> Response:
            out = await place(session, client, order)
            return JSONResponse(
                out.model_dump(), status_code=202, headers={"Location": f"/v1/shipments/{out.id}"}
            )

        return await idem.run(session, client, handler)

    app: FastAPI = create_service_app(
        title="idem", settings=ServiceSettings(service_name="idem"), routers=[r]
    )
    app.state.db = db
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def _count(db: Database, item: str) -> int:
    async with db.session() as session:
        q = sa.select(sa.func.count()).select_from(orders).where(orders.c.item == item)
        return int((await session.execute(q)).scalar_one())


def _headers(key: str, client: str = "bank-a") -> dict[str, str]:
    return {"Idempotency-Key": key, "X-Client": client}


async def test_replay_returns_the_stored_response(db: Database, http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    first = await http.post("/v1/orders", json={"item": "rice", "sleep": 0}, headers=_headers(key))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await http.post(
        "/v1/orders", json={"item": "rice", "sleep": 0}, headers=_headers(f'"{key}"')
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/json"
    # Same JSON, other key order and spacing: still the same request.
    same = await http.post(
        "/v1/orders",
        content=b'{ "sleep": 0,  "item": "rice" }',
        headers=_headers(key) | {"content-type": "application/json"},
    )
    assert same.headers["idempotent-replayed"] == "true" and same.json() == first.json()
    assert await _count(db, "rice") == 1


async def test_same_key_other_body_is_422(db: Database, http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    assert (
        await http.post("/v1/orders", json={"item": "salt"}, headers=_headers(key))
    ).status_code == 201
    resp = await http.post("/v1/orders", json={"item": "sugar"}, headers=_headers(key))
    assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM
    assert resp.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await _count(db, "sugar") == 0


async def test_keys_are_scoped_per_client(db: Database, http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    a = await http.post("/v1/orders", json={"item": "tea"}, headers=_headers(key, "bank-a"))
    b = await http.post("/v1/orders", json={"item": "tea"}, headers=_headers(key, "bank-b"))
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers and a.json()["id"] != b.json()["id"]
    assert await _count(db, "tea") == 2


async def test_concurrent_identical_requests_execute_once(
    db: Database, http: httpx.AsyncClient
) -> None:
    key = str(uuid.uuid4())
    body = {"item": "coffee", "sleep": 0.4}
    first, second = await asyncio.gather(
        http.post("/v1/orders", json=body, headers=_headers(key)),
        http.post("/v1/orders", json=body, headers=_headers(key)),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    busy = first if first.status_code == 409 else second
    assert busy.headers["content-type"] == PROBLEM and busy.headers["retry-after"] == "1"
    done = first if first.status_code == 201 else second
    replay = await http.post("/v1/orders", json=body, headers=_headers(key))
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == done.json()
    assert await _count(db, "coffee") == 1


async def test_many_racers_one_execution(db: Database, http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"item": "flour", "sleep": 0.05}
    results = await asyncio.gather(
        *(http.post("/v1/orders", json=body, headers=_headers(key)) for _ in range(8))
    )
    statuses = [r.status_code for r in results]
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert len({r.json()["id"] for r in results if r.status_code == 201}) == 1
    assert await _count(db, "flour") == 1


async def test_failed_request_stores_nothing(db: Database, http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    await http.post("/v1/orders/corn/fail-once")
    failed = await http.post("/v1/orders", json={"item": "corn"}, headers=_headers(key))
    assert failed.status_code == 409
    assert await _count(db, "corn") == 0  # the business write rolled back with it
    retried = await http.post("/v1/orders", json={"item": "corn"}, headers=_headers(key))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert await _count(db, "corn") == 1


async def test_expired_key_runs_again(db: Database, http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    assert (
        await http.post("/v1/orders", json={"item": "egg"}, headers=_headers(key))
    ).status_code == 201
    async with db.transaction() as session:
        await session.execute(
            sa.text(
                "update idempotency_keys set expires_at = now() - interval '1 second'"
                " where key = :k"
            ),
            {"k": key},
        )
    again = await http.post("/v1/orders", json={"item": "egg"}, headers=_headers(key))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert await _count(db, "egg") == 2


async def test_key_validation(http: httpx.AsyncClient) -> None:
    resp = await http.post("/v1/orders", json={"item": "x"}, headers={"X-Client": "bank-a"})
    assert resp.status_code == 400 and resp.headers["content-type"] == PROBLEM
    assert resp.json()["errors"][0]["field"] == "header.Idempotency-Key"
    for bad in ("k" * 256, '""', "   "):
        resp = await http.post("/v1/orders", json={"item": "x"}, headers=_headers(bad))
        assert resp.status_code == 422, bad
        assert resp.json()["errors"][0]["field"] == "header.Idempotency-Key"
    ok = await http.post("/v1/orders", json={"item": "x"}, headers=_headers("k" * 255))
    assert ok.status_code == 201


async def test_response_headers_replayed_and_optional_key(
    db: Database, http: httpx.AsyncClient
) -> None:
    key = str(uuid.uuid4())
    first = await http.post("/v1/shipments", json={"item": "box"}, headers=_headers(key))
    assert first.status_code == 202 and first.headers["location"].startswith("/v1/shipments/")
    again = await http.post("/v1/shipments", json={"item": "box"}, headers=_headers(key))
    assert again.status_code == 202 and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    # Without a key (optional here) every call runs.
    no_key = await http.post("/v1/shipments", json={"item": "box"}, headers={"X-Client": "bank-a"})
    assert no_key.status_code == 202 and no_key.json()["id"] != first.json()["id"]
    assert await _count(db, "box") == 2


def test_fingerprint() -> None:
    a = fingerprint("POST", "/v1/x", b'{"a": 1, "b": [1, 2]}')
    assert a == fingerprint("post", "/v1/x", b'{"b":[1,2],"a":1}')
    assert a != fingerprint("POST", "/v1/y", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("PUT", "/v1/x", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("POST", "/v1/x", b'{"a": 2, "b": [1, 2]}')
    assert fingerprint("POST", "/v1/x", b"not json") != fingerprint("POST", "/v1/x", b"not json!")
