"""End to end: the four services as separate processes, talking only through a real Kafka broker,
each on its own real PostgreSQL database (see tests/distributed.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest_asyncio
from distributed import DistributedStack, eventually, start_stack

from umkm_shared.synthetic import generate

BANDUNG_VILLAGE = "32.73.07.1002"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    make_database: Callable[[str], Awaitable[str]],
    kafka_bootstrap: str,
    tmp_path_factory: object,
) -> AsyncIterator[DistributedStack]:
    log_dir: Path = tmp_path_factory.mktemp("e2e-logs")  # type: ignore[attr-defined]
    running = await start_stack(make_database, kafka_bootstrap, log_dir)
    try:
        yield running
    finally:
        running.stop_all()


def umkm_body(record_index: int = 0) -> dict[str, object]:
    record = list(generate(record_index + 1, seed=77, within="32.73"))[record_index]
    return record.registry_json()


async def test_a_request_is_one_trace_across_processes_and_kafka(stack: DistributedStack) -> None:
    ministry = stack.token("ministry", scopes=frozenset({"registry:read", "registry:write"}))
    trace_id = uuid.uuid4().hex
    headers = ministry | {
        "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    async with httpx.AsyncClient(base_url=stack.url("registry"), timeout=30) as client:
        resp = await client.post("/v1/umkm", json=umkm_body(), headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.headers["traceparent"].split("-")[1] == trace_id

    def consumer_spans(service: str) -> list[dict[str, object]]:
        spans = []
        for chunk in stack.log(service).split("\n}\n"):
            start = chunk.find("{")
            if start < 0 or f"0x{trace_id}" not in chunk:
                continue
            try:
                spans.append(json.loads(chunk[start:] + "\n}"))
            except ValueError:
                continue
        return [s for s in spans if str(s.get("kind")) == "SpanKind.CONSUMER"]

    async def seen_by_clustering() -> list[dict[str, object]]:
        return consumer_spans("clustering")

    spans = await eventually(seen_by_clustering)
    assert any("umkm.registered" in str(span["name"]) for span in spans)


async def test_the_whole_story_reconciles_even_when_a_service_is_killed_midway(
    stack: DistributedStack,
) -> None:
    """Dinas import -> clusters -> an anchor's request met by a bundle -> purchase orders ->
    PO financing with two banks -> disbursement -> delivery -> invoice paid -> closed-loop
    repayment. The financing broker is SIGKILLed after the disbursement and comes back only
    after the anchor paid: the payment waits in Kafka, is applied once, and everything
    reconciles."""
    from umkm_platform.story import Platform, run_story

    killed: list[str] = []

    async def disturb(step: str) -> None:
        if step == "disbursed":
            stack.kill("financing")
            killed.append(step)
        elif step.startswith("invoiced:") and killed:
            killed.append(step)
            if len(killed) == 3:  # after the first order's payment went out
                await stack.start("financing")

    platform = Platform(
        stack.url("registry"),
        stack.url("clustering"),
        stack.url("supply-chain"),
        stack.url("financing"),
        stack.token,
        timeout_s=180,
    )
    lines: list[str] = []
    rec = await run_story(platform, lines.append, national_sample=600, between_steps=disturb)
    assert rec.problems == [], "\n".join(lines)
    assert len(killed) >= 3, killed  # the broker really was down while the anchor paid
    assert rec.imported["inserted"] > 500
    assert rec.formation["quality"]["clusters"] >= 1
    rep = rec.repayment
    assert rep["interest_idr"] + rep["principal_idr"] + rep["remainder_idr"] == rep["amount_idr"]
    assert len(rec.loan["repayments"]) == 1  # the payment event was not applied twice
