"""Helpers for supply-chain tests: settings, tokens, registry events, seeded data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from umkm_shared.auth import Actor, ActorKind
from umkm_shared.events.base import EventPayload, make_event
from umkm_shared.events.envelope import to_kafka
from umkm_shared.events.koperasi import KoperasiMembershipStarted
from umkm_shared.events.registry import Certification, KbliRef, UmkmRegistered, UmkmSnapshot
from umkm_shared.ids import new_id
from umkm_shared.messaging.bus import EventBus
from umkm_supply_chain.config import Settings

RW = frozenset({"supply-chain:read", "supply-chain:write"})
# Cikarang (Bekasi) plant of the anchor; suppliers around West Java.
PLANT = (-6.3, 107.15)
BEKASI_VILLAGE = "32.16.01.2001"


def sc_settings(db_url: str, keys: dict[str, Any], **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "environment": "test",
        "log_json": False,
        "index_sync_seconds": 0.2,
        "webhook_retry_delays": [0, 0.3, 0.3, 0.5, 0.5, 1, 1, 1],
        "webhook_poll_interval": 0.1,
        **keys,
    }
    values.update(extra)
    return Settings(**values)


def mint(
    app: FastAPI,
    kind: str,
    *,
    actor_id: Any = None,
    wilayah: str | None = None,
    scopes: frozenset[str] = RW,
) -> dict[str, str]:
    actor = Actor(
        kind=ActorKind(kind),
        client_id=f"test-{kind}-{new_id().hex}",
        actor_id=str(actor_id) if actor_id is not None else None,
        wilayah=wilayah,
        scopes=scopes,
    )
    return {"Authorization": f"Bearer {app.state.token_issuer.issue(actor).access_token}"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(new_id())}


def unique_unit() -> str:
    """A unit no other test uses: isolates one test's suppliers in the shared index."""
    return f"u{new_id().hex[-10:]}"


def snapshot(
    *,
    umkm_id: uuid.UUID | None = None,
    name: str = "CV MITRA LOGAM",
    kbli: str = "25920",
    lat: float | None = -6.3,
    lon: float | None = 107.2,
    village: str = BEKASI_VILLAGE,
    certs: list[Certification] | None = None,
    version: int = 1,
    status: str = "active",
) -> UmkmSnapshot:
    now = datetime.now(UTC)
    return UmkmSnapshot(
        umkm_id=umkm_id or new_id(),
        business_name=name,
        owner_name="BUDI",
        owner_nik_hash="0" * 64,
        owner_nik_masked="3216************",
        kbli_primary=KbliRef(version="2020", code=kbli),
        village_code=village,
        district_code=village[:8],
        regency_code=village[:5],
        province_code=village[:2],
        latitude=lat,
        longitude=lon,
        scale="kecil",
        products=["Komponen logam"],
        certifications=certs or [],
        status=status,  # type: ignore[arg-type]
        version=version,
        registered_at=now,
        updated_at=now,
    )


async def publish(bus: EventBus, *payloads: EventPayload, source: str = "/registry") -> None:
    """Publish events as their producer would (the in-process bus returns once consumed)."""
    await bus.publish([to_kafka(make_event(p, source), p.topic, p.message_key()) for p in payloads])


def membership(umkm_id: uuid.UUID, koperasi_id: uuid.UUID) -> KoperasiMembershipStarted:
    return KoperasiMembershipStarted(
        membership_id=new_id(),
        umkm_id=umkm_id,
        koperasi_id=koperasi_id,
        koperasi_type="produsen",
        umkm_province_code="32",
        joined_on=date(2024, 1, 1),
        started_at=datetime.now(UTC),
    )


def product(kbli: str, unit: str, capacity: float, **extra: Any) -> dict[str, Any]:
    return {
        "kbli_code": kbli,
        "name": extra.pop("name", "Komponen"),
        "keywords": extra.pop("keywords", []),
        "monthly_capacity": str(capacity),
        "unit": unit,
        **extra,
    }


@dataclass
class Seeded:
    umkm_id: uuid.UUID
    lat: float
    lon: float
    capacity: float


async def seed_supplier(
    client: httpx.AsyncClient,
    app: FastAPI,
    bus: EventBus,
    *,
    kbli: str,
    unit: str,
    capacity: float,
    lat: float,
    lon: float,
    certs: list[Certification] | None = None,
    koperasi_id: uuid.UUID | None = None,
    lead_time_days: int | None = None,
    keywords: list[str] | None = None,
    name: str = "CV MITRA",
) -> Seeded:
    """Registry event -> profile, then the ministry declares its product and capacity."""
    snap = snapshot(name=name, kbli=kbli, lat=lat, lon=lon, certs=certs)
    events: list[EventPayload] = [UmkmRegistered(umkm=snap)]
    if koperasi_id is not None:
        events.append(membership(snap.umkm_id, koperasi_id))
    await publish(bus, *events)
    body: dict[str, Any] = {
        "products": [product(kbli, unit, capacity, keywords=keywords or [])],
    }
    if lead_time_days is not None:
        body["lead_time_days"] = lead_time_days
    r = await client.patch(
        f"/v1/suppliers/{snap.umkm_id}", json=body, headers=mint(app, "ministry")
    )
    assert r.status_code == 200, r.text
    return Seeded(snap.umkm_id, lat, lon, capacity)


async def new_anchor(client: httpx.AsyncClient, app: FastAPI, name: str = "PT ANCHOR") -> str:
    r = await client.post(
        "/v1/anchors",
        json={
            "name": name,
            "nib": f"{new_id().int % 10**13:013d}",
            "sector": "otomotif",
            "state_owned": True,
            "province_code": "32",
        },
        headers=mint(app, "ministry") | idem(),
    )
    assert r.status_code == 201, r.text
    anchor_id: str = r.json()["id"]
    return anchor_id


def request_body(kbli: str, unit: str, quantity: float, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Komponen rangka",
        "kbli_code": kbli,
        "quantity": str(quantity),
        "unit": unit,
        "delivery": {"latitude": PLANT[0], "longitude": PLANT[1]},
        "deadline": str(date.today() + timedelta(days=60)),
        "open": True,
        **extra,
    }
