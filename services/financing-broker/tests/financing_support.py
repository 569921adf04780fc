"""Helpers for financing tests: tokens, SNAP-signed bank calls, supply-chain and registry
events put on the bus as the other services would publish them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from umkm_financing.config import Settings
from umkm_financing.snap import signed_headers
from umkm_shared.auth import Actor, ActorKind
from umkm_shared.events.base import EventPayload, make_event
from umkm_shared.events.envelope import to_kafka
from umkm_shared.events.registry import KbliRef, UmkmRegistered, UmkmSnapshot
from umkm_shared.events.supply_chain import (
    AnchorRegistered,
    AnchorSnapshot,
    GoodsReceived,
    InvoiceIssued,
    InvoicePaid,
    PurchaseOrderAccepted,
    PurchaseOrderIssued,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.bus import EventBus

PROBLEM = "application/problem+json"


def financing_settings(db_url: str, keys: dict[str, Any], **extra: Any) -> Settings:
    return Settings(
        database_url=db_url,
        environment="test",
        log_json=False,
        ageing_interval_seconds=0,
        **keys,
        **extra,
    )


def mint(
    app: FastAPI, kind: str, *, actor_id: str | None = None, wilayah: str | None = None,
    scopes: frozenset[str] = frozenset(),
) -> dict[str, str]:  # fmt: skip
    actor = Actor(
        kind=ActorKind(kind),
        client_id=f"test-{kind}-{new_id().hex}",
        actor_id=actor_id,
        wilayah=wilayah,
        scopes=scopes,
    )
    token = app.state.token_issuer.issue(actor).access_token
    return {"Authorization": f"Bearer {token}"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(new_id())}


@dataclass
class BankClient:
    """A partner bank: signs every request the way a bank's integration would."""

    client: httpx.AsyncClient
    bank_id: str
    partner_id: str
    signing_secret: str
    token: str
    client_id: str = ""
    client_secret: str = ""

    def headers(self, method: str, path: str, body: bytes = b"", **kw: Any) -> dict[str, str]:
        return signed_headers(
            self.signing_secret, self.partner_id, method, path, self.token, body, **kw
        )

    async def request(
        self, method: str, path: str, json: Any = None, *, idempotency: bool = True,
        extra: dict[str, str] | None = None, **kw: Any,
    ) -> httpx.Response:  # fmt: skip
        body = orjson.dumps(json) if json is not None else b""
        headers = self.headers(method, path, body, **kw)
        if json is not None:
            headers["content-type"] = "application/json"
        if method != "GET" and idempotency:
            headers |= idem()
        headers |= extra or {}
        return await self.client.request(method, path, content=body, headers=headers)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, json if json is not None else {}, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, json, **kw)


async def onboard_bank(
    client: httpx.AsyncClient, app: FastAPI, code: str | None = None
) -> BankClient:
    ministry = mint(app, "ministry")
    code = code or f"B{new_id().hex[-8:].upper()}"
    r = await client.post(
        "/v1/banks", json={"name": f"Bank {code}", "code": code}, headers=ministry | idem()
    )
    assert r.status_code == 201, r.text
    b = r.json()
    token = mint(app, "bank", actor_id=b["id"], scopes=frozenset(b["scopes"]))
    return BankClient(
        client,
        b["id"],
        b["partner_id"],
        b["signing_secret"],
        token["Authorization"].removeprefix("Bearer "),
        b["client_id"],
        b["client_secret"],
    )


async def publish(bus: EventBus, *payloads: EventPayload, source: str = "/supply-chain") -> None:
    """Put events on the bus as their producing service's relay would."""
    messages = [to_kafka(make_event(p, source), p.topic, p.message_key()) for p in payloads]
    await bus.publish(messages)


def now() -> datetime:
    return datetime.now(UTC)


def anchor_event(anchor_id: uuid.UUID, name: str = "PT Anchor Otomotif") -> AnchorRegistered:
    return AnchorRegistered(
        anchor=AnchorSnapshot(
            anchor_id=anchor_id,
            name=name,
            sector="otomotif",
            status="active",
            version=1,
            registered_at=now(),
            updated_at=now(),
        )
    )


def umkm_event(
    umkm_id: uuid.UUID, *, npwp: str | None = "0123456789012345", founded: date | None = None,
    kbli: str = "29300", status: str = "active",
) -> UmkmRegistered:  # fmt: skip
    return UmkmRegistered(
        umkm=UmkmSnapshot(
            umkm_id=umkm_id,
            business_name="CV Komponen Jaya",
            owner_name="BUDI SANTOSO",
            owner_nik_hash="ab" * 32,
            owner_nik_masked="3273**********01",
            npwp=npwp,
            kbli_primary=KbliRef(version="2020", code=kbli),
            village_code="32.73.07.1002",
            district_code="32.73.07",
            regency_code="32.73",
            province_code="32",
            scale="mikro",
            founded_on=founded or date(2019, 1, 1),
            status=status,  # type: ignore[arg-type]
            version=1,
            registered_at=now(),
            updated_at=now(),
        )
    )


@dataclass
class Order:
    po_id: uuid.UUID
    anchor_id: uuid.UUID
    umkm_id: uuid.UUID
    amount_idr: int
    invoice_id: uuid.UUID | None = None

    def common(self) -> dict[str, Any]:
        return {"po_id": self.po_id, "anchor_id": self.anchor_id, "umkm_id": self.umkm_id}

    def issued(self) -> PurchaseOrderIssued:
        return PurchaseOrderIssued(
            **self.common(),
            request_id=new_id(),
            po_number=f"PO-{self.po_id.hex[-6:]}",
            description="Kabel harness 1.000 pcs",
            quantity=Decimal(1000),
            unit="pcs",
            unit_price_idr=self.amount_idr // 1000,
            amount_idr=self.amount_idr,
            delivery_due_on=date.today() + timedelta(days=30),
            payment_terms_days=60,
            issued_at=now(),
        )

    def accepted(self) -> PurchaseOrderAccepted:
        return PurchaseOrderAccepted(**self.common(), accepted_at=now())

    def received(self) -> GoodsReceived:
        return GoodsReceived(
            **self.common(),
            receipt_id=new_id(),
            quantity_received=Decimal(1000),
            quantity_accepted=Decimal(1000),
            on_time=True,
            received_at=now(),
        )

    def invoiced(self) -> InvoiceIssued:
        self.invoice_id = self.invoice_id or new_id()
        return InvoiceIssued(
            **self.common(),
            invoice_id=self.invoice_id,
            invoice_number=f"INV-{self.po_id.hex[-6:]}",
            amount_idr=self.amount_idr,
            issued_on=date.today(),
            due_on=date.today() + timedelta(days=60),
        )

    def paid(self, amount: int | None = None, at: datetime | None = None) -> InvoicePaid:
        assert self.invoice_id is not None
        return InvoicePaid(
            **self.common(),
            invoice_id=self.invoice_id,
            amount_idr=amount if amount is not None else self.amount_idr,
            payment_reference=f"VA-{self.po_id.hex[-8:]}",
            paid_at=at or now(),
        )


def new_order(anchor_id: uuid.UUID, umkm_id: uuid.UUID, amount: int = 200_000_000) -> Order:
    return Order(new_id(), anchor_id, umkm_id, amount)


def programme_body(anchor_id: uuid.UUID, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "anchor_id": str(anchor_id),
        "name": "Supplier finance otomotif",
        "products": [
            {"product": "invoice_financing", "max_advance_pct": "90", "tenors_days": [30, 60, 90]},
            {"product": "po_financing", "max_advance_pct": "80"},
            {"product": "reverse_factoring", "max_advance_pct": "100"},
            {"product": "kur_mikro"},
            {"product": "kur_khusus"},
        ],
        "programme_limit_idr": 5_000_000_000,
        "supplier_sublimit_idr": 1_000_000_000,
    }
    body.update(over)
    return body


def offer_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount_idr": 150_000_000,
        "rate_pa": "0.12",
        "tenor_days": 60,
        "advance_pct": "80",
        "fees_idr": 500_000,
    }
    body.update(over)
    return body


@dataclass
class World:
    """An anchor with two supplier UMKM, two banks with a programme each on the anchor."""

    app: FastAPI
    client: httpx.AsyncClient
    bus: EventBus
    anchor_id: Any
    anchor: dict[str, str]
    umkm_ids: list[Any]
    bank_a: BankClient
    bank_b: BankClient
    programmes: dict[str, str] = field(default_factory=dict)


async def make_world(
    app: FastAPI, client: httpx.AsyncClient, bus: EventBus, **programme: Any
) -> World:
    anchor_id = new_id()
    umkm_ids = [new_id(), new_id()]
    await publish(bus, anchor_event(anchor_id))
    await publish(bus, *(umkm_event(u) for u in umkm_ids), source="/registry")
    bank_a = await onboard_bank(client, app)
    bank_b = await onboard_bank(client, app)
    world = World(
        app, client, bus, anchor_id, mint(app, "anchor", actor_id=str(anchor_id)), umkm_ids,
        bank_a, bank_b,
    )  # fmt: skip
    for name, bank in (("a", bank_a), ("b", bank_b)):
        r = await bank.post("/v1/bank/programmes", programme_body(anchor_id, **programme))
        assert r.status_code == 201, r.text
        world.programmes[name] = r.json()["id"]
    return world


class Receiver:
    """A real local HTTP server that records webhook deliveries."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import orjson

        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append({"headers": headers, "body": orjson.loads(body) if body else None})
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
