"""The service web kit: problem bodies, limits, health/readiness/metrics, tracing, mounting."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Path, Request
from pydantic import BaseModel, field_validator

from umkm_shared.errors import Conflict
from umkm_shared.logging import configure_logging
from umkm_shared.observability import parse_traceparent
from umkm_shared.pagination import (
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    encode_cursor,
)
from umkm_shared.settings import ServiceSettings
from umkm_shared.web import create_service_app, run_lifespans

PROBLEM = "application/problem+json"


class Owner(BaseModel):
    nik: str

    @field_validator("nik")
    @classmethod
    def _sixteen_digits(cls, v: str) -> str:
        if not (len(v) == 16 and v.isdigit()):
            raise ValueError("NIK must be 16 digits")
        return v


class Thing(BaseModel):
    name: str
    owner: Owner
    tags: list[int] = []


class Key(BaseModel):
    created_at: datetime
    id: int


def _router() -> APIRouter:
    r = APIRouter()

    @r.post("/v1/things", status_code=201)
    async def create(thing: Thing) -> Thing:
        return thing

    @r.get("/v1/things/{thing_id}")
    async def get(thing_id: Annotated[int, Path()]) -> dict[str, int]:
        return {"thing_id": thing_id}

    @r.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @r.get("/v1/conflict")
    async def conflict() -> None:
        raise Conflict(detail="Already approved.", extra={"allowed": ["disburse"]})

    @r.post("/v1/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @r.get("/v1/numbers")
    async def numbers(limit: LimitQuery = 3, cursor: CursorQuery = None) -> Page[int]:
        after = decode_cursor(cursor, Key)
        start = after.id + 1 if after else 0
        rows = list(range(start, min(start + limit + 1, 10)))
        return Page[int].from_rows(
            rows, limit, key=lambda n: Key(created_at=datetime(2026, 1, 1), id=n)
        )

    return r


def _settings(name: str = "testsvc", **kw: object) -> ServiceSettings:
    return ServiceSettings(service_name=name, environment="test", max_request_body_bytes=1000, **kw)  # type: ignore[arg-type]


def _app(**kw: object) -> FastAPI:
    return create_service_app(
        title="Test service",
        settings=_settings(),
        routers=[_router()],
        body_limit_overrides={"/v1/upload": 5000},
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body: dict[str, object] = resp.json()
    assert body["status"] == status
    assert {"type", "title", "status"} <= body.keys()
    return body


async def test_success_is_snake_case_json(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/things", json={"name": "Batik", "owner": {"nik": "3273012345678901"}}
    )
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"name": "Batik", "owner": {"nik": "3273012345678901"}, "tags": []}


async def test_validation_errors_name_dotted_fields(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/things", json={"owner": {"nik": "123"}, "tags": [1, "x"]})
    body = _problem(resp, 422)
    assert body["type"] == "https://umkm.go.id/problems/validation-error"
    assert body["instance"] == "/v1/things"
    errors = {e["field"]: e for e in body["errors"]}  # type: ignore[attr-defined]
    assert set(errors) == {"body.name", "body.owner.nik", "body.tags.1"}
    assert errors["body.owner.nik"]["message"] == "NIK must be 16 digits"  # prefix stripped
    assert errors["body.owner.nik"]["value"] == "123"
    assert errors["body.name"]["message"] == "Field required"
    assert "value" not in errors["body.name"]


async def test_query_and_path_errors(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/v1/things/abc"), 422)
    assert body["errors"][0]["field"] == "path.thing_id"  # type: ignore[index]
    body = _problem(await client.get("/v1/numbers?limit=1000"), 422)
    assert body["errors"][0]["field"] == "query.limit"  # type: ignore[index]


async def test_malformed_json_is_400_naming_the_body(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/things", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    body = _problem(resp, 400)
    assert body["errors"][0]["field"] == "body"  # type: ignore[index]


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/things", content=b"name=x", headers={"content-type": "text/plain"}
    )
    body = _problem(resp, 415)
    assert "application/json" in str(body["detail"])
    resp = await client.post("/v1/things", content=b'{"name": "x"}', headers={"content-type": ""})
    _problem(resp, 415)


async def test_404_405_and_app_errors(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/v1/nowhere"), 404)
    assert body["type"] == "https://umkm.go.id/problems/not-found"
    assert body["instance"] == "/v1/nowhere"
    resp = await client.delete("/v1/things")
    body = _problem(resp, 405)
    assert resp.headers["allow"] == "POST"
    assert "POST" in str(body["detail"])
    body = _problem(await client.get("/v1/conflict"), 409)
    assert body["detail"] == "Already approved."
    assert body["allowed"] == ["disburse"]


async def test_500_hides_internals_and_carries_trace_id(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/boom")
    body = _problem(resp, 500)
    assert "hunter2" not in resp.text and "RuntimeError" not in resp.text
    parsed = parse_traceparent(resp.headers["traceparent"])
    assert parsed is not None
    assert body["trace_id"] == parsed[0]


async def test_body_limit_declared_and_streamed(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/v1/things", content=b"x" * 1001), 413)
    assert body["max_bytes"] == 1000

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 100

    # Streamed (chunked, no Content-Length): refused when the running total passes the limit.
    body = _problem(
        await client.post(
            "/v1/things", content=chunks(), headers={"content-type": "application/json"}
        ),
        413,
    )
    # A per-path override admits a larger body.
    resp = await client.post("/v1/upload", content=chunks())
    assert resp.status_code == 200 and resp.json() == {"size": 2000}
    _problem(await client.post("/v1/upload", content=b"z" * 5001), 413)


async def test_healthz_readyz_metrics() -> None:
    import umkm_shared.messaging.metrics  # noqa: F401  (registers the shared components' series)

    state = {"db": True}

    async def database() -> bool:
        return state["db"]

    async def bus() -> bool:
        raise ConnectionError("broker down")

    app = _app(readiness_checks={"database": database})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        resp = await c.get("/readyz")
        assert resp.status_code == 200 and resp.json()["checks"] == {"database": "ok"}

        app.state.readiness_checks["bus"] = bus
        state["db"] = False
        body = _problem(await c.get("/readyz"), 503)
        assert sorted(body["failed"]) == ["bus", "database"]  # type: ignore[arg-type]

        await c.get("/v1/things/7")
        await c.get("/v1/things/8")
        await c.get("/v1/nowhere/at/all")
        text = (await c.get("/metrics")).text
    series = (
        "http_server_request_duration_seconds_count"
        '{method="GET",route="/v1/things/{thing_id}",service="testsvc",status="200"}'
    )
    assert f"{series} 2.0" in text
    assert 'route="<unmatched>",service="testsvc",status="404"' in text
    assert "/v1/things/7" not in text  # route templates, never raw paths
    assert "process_cpu_seconds_total" in text
    # The shared components' metrics (outbox, consumers; every service imports them) are on
    # every app's /metrics too.
    assert "# TYPE umkm_outbox_backlog gauge" in text
    assert "# TYPE umkm_consumer_lag_messages gauge" in text
    assert text.count("# TYPE process_cpu_seconds_total") == 1


async def test_many_apps_in_one_process_have_separate_metrics() -> None:
    apps = [
        create_service_app(title=n, settings=_settings(n), routers=[_router()])
        for n in ("registry", "clustering", "financing", "supply-chain")
    ]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=apps[0]), base_url="http://t"
    ) as c:
        await c.get("/v1/things/1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=apps[1]), base_url="http://t"
    ) as c:
        text = (await c.get("/metrics")).text
    assert 'service="clustering"' in text
    assert 'service="registry"' not in text


async def test_traceparent_continued_or_generated(client: httpx.AsyncClient) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    resp = await client.get("/healthz", headers={"traceparent": incoming})
    trace_id, span_id, flags = parse_traceparent(resp.headers["traceparent"]) or ("", "", "")
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span_id != "00f067aa0ba902b7" and flags == "01"

    resp = await client.get("/healthz", headers={"traceparent": "garbage"})
    generated = parse_traceparent(resp.headers["traceparent"])
    assert generated is not None and generated[0] != "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_logs_are_json_with_service_and_trace_id() -> None:
    import logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging(service="proc", level="INFO", json=True, force=True, stream=stream)
    try:
        app = _app()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            resp = await c.get("/v1/boom")
        logging.getLogger("sqlalchemy.engine").warning("from a library")
    finally:
        root.handlers, root.level = saved
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    trace_id = (parse_traceparent(resp.headers["traceparent"]) or ("",))[0]
    access = next(line for line in lines if line["event"] == "http_request")
    assert access["service"] == "testsvc" and access["trace_id"] == trace_id
    assert access["route"] == "/v1/boom" and access["status"] == 500
    assert {"timestamp", "level", "span_id"} <= access.keys()
    error = next(line for line in lines if line["event"] == "unhandled_error")
    assert error["trace_id"] == trace_id and "RuntimeError" in error["exception"]
    library = next(line for line in lines if line["event"] == "from a library")
    assert library["service"] == "proc" and library["level"] == "warning"


async def test_mounted_app_serves_docs_and_openapi_under_prefix() -> None:
    started: list[str] = []

    async def on_start() -> None:
        started.append("registry")

    sub = create_service_app(
        title="Registry", settings=_settings("registry"), routers=[_router()], on_startup=[on_start]
    )
    parent = FastAPI(lifespan=lambda _: run_lifespans([sub]))
    parent.mount("/registry", sub)

    from asgi_lifespan import LifespanManager

    async with LifespanManager(parent) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            spec = (await c.get("/registry/openapi.json")).json()
            docs = await c.get("/registry/docs")
            health = await c.get("/registry/healthz")
            missing = await c.get("/registry/v1/nowhere")
            created = await c.post(
                "/registry/v1/things", json={"name": "x", "owner": {"nik": "3273012345678901"}}
            )
    assert started == ["registry"]
    assert spec["servers"] == [{"url": "/registry"}]
    assert "/v1/things" in spec["paths"]
    assert docs.status_code == 200 and "/registry/openapi.json" in docs.text
    assert health.status_code == 200
    assert _problem(missing, 404)["instance"] == "/registry/v1/nowhere"
    assert created.status_code == 201


async def test_openapi_documents_problem_bodies(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    r422 = spec["paths"]["/v1/things"]["post"]["responses"]["422"]
    assert r422["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "Problem" in spec["components"]["schemas"]
    assert "/healthz" not in spec["paths"]


async def test_cursor_pagination(client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/numbers", params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(10))

    for bad in ("not-base64!!", encode_cursor({"id": "x"}), "e30"):  # "e30" is {} (no fields)
        body = _problem(await client.get("/v1/numbers", params={"cursor": bad}), 422)
        assert body["errors"][0]["field"] == "query.cursor"  # type: ignore[index]


def test_cursor_round_trip() -> None:
    key = Key(created_at=datetime(2026, 3, 1, 12, 0), id=42)
    token = encode_cursor(key)
    assert "=" not in token
    assert decode_cursor(token, Key) == key
    assert decode_cursor(None, Key) is None
