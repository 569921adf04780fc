"""Webhooks to a real local receiver (uvicorn on 127.0.0.1) that fails for a while and then
recovers: every event ends up there exactly once by webhook-id, signed, in order per order."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sc_support import mint, new_anchor
from test_orders import awarded_bundle

from umkm_shared.runtime import ServiceRuntime


@dataclass
class Receiver:
    fail_first: int
    requests: list[tuple[str, int, dict[str, Any], bytes, dict[str, str]]] = field(
        default_factory=list
    )
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)  # by webhook-id
    port: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status = 503 if len(self.requests) < self.fail_first else 200
        wid = headers.get("webhook-id", "")
        self.requests.append((wid, status, orjson.loads(body), body, headers))
        if status == 200:
            self.processed.setdefault(wid, orjson.loads(body))  # dedupe by webhook-id
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"down"})


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(fail_first=6)
    server = uvicorn.Server(
        uvicorn.Config(rec, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.02)
    rec.port = server.servers[0].sockets[0].getsockname()[1]
    yield rec
    server.should_exit = True
    await task


def verify(secret: str, wid: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{wid}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig.split(",", 1)[1], expected)
        for sig in headers["webhook-signature"].split()
    )


async def test_failing_receiver_gets_every_event_once_in_order(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime, receiver: Receiver
) -> None:
    anchor_id = await new_anchor(client, app)
    anchor = mint(app, "anchor", actor_id=anchor_id)
    r = await client.post(
        "/v1/webhook-endpoints",
        json={"url": f"http://127.0.0.1:{receiver.port}/hooks"},
        headers=anchor,
    )
    assert r.status_code == 201, r.text
    endpoint = r.json()
    secret = endpoint["secret"]

    s = await awarded_bundle(client, app, runtime, anchor_id)
    koperasi = s["koperasi"]
    for po in s["award"]["orders"]:
        r = await client.post(f"/v1/purchase-orders/{po['id']}/accept", headers=koperasi)
        assert r.status_code == 200

    # every message the service queued for this endpoint ends up delivered
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(40):
        while True:
            r = await client.get(
                f"/v1/webhook-endpoints/{endpoint['id']}/messages",
                params={"limit": 100},
                headers=anchor,
            )
            messages = r.json()["items"]
            if messages and all(m["status"] == "delivered" for m in messages):
                break
            assert not any(m["status"] == "failed" for m in messages), messages
            await asyncio.sleep(0.2)

    # 1 match + 2 issued + 2 accepted, each delivered exactly once (after failures)
    assert len(messages) == 5
    assert sum(1 for _, status, *_ in receiver.requests if status != 200) == 6
    ok = Counter(wid for wid, status, *_ in receiver.requests if status == 200)
    assert set(ok) == {m["webhook_id"] for m in messages}
    assert all(n == 1 for n in ok.values()), ok
    for wid, _, _, raw, headers in receiver.requests:
        assert verify(secret, wid, headers, raw)
    types = Counter(p["type"] for p in receiver.processed.values())
    assert types == {
        "procurement_request.matched": 1,
        "purchase_order.issued": 2,
        "purchase_order.accepted": 2,
    }
    by_po: dict[str, list[str]] = defaultdict(list)
    for _, status, payload, *_ in receiver.requests:
        if status == 200 and payload["type"].startswith("purchase_order."):
            by_po[payload["data"]["po_id"]].append(payload["type"])
    assert all(v == ["purchase_order.issued", "purchase_order.accepted"] for v in by_po.values())

    # a replay carries the same webhook-id: the receiver's deduplication keeps one of each
    r = await client.post(f"/v1/webhook-messages/{messages[0]['id']}/replay", headers=anchor)
    assert r.status_code == 202, r.text
    async with asyncio.timeout(20):
        while sum(1 for _, st, *_ in receiver.requests if st == 200) < 6:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert receiver.requests[-1][0] == messages[0]["webhook_id"]
    assert len(receiver.processed) == 5

    # attempts are logged
    r = await client.get(f"/v1/webhook-messages/{messages[-1]['id']}/attempts", headers=anchor)
    assert r.status_code == 200 and r.json()["items"]

    # another anchor sees none of it
    other = mint(app, "anchor", actor_id=await new_anchor(client, app, "PT LAIN"))
    r = await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=other)
    assert r.status_code == 404
