"""Helpers for registry tests: demo values, token minting, request bodies."""

from __future__ import annotations

from itertools import count
from typing import Any

from fastapi import FastAPI

from umkm_registry.config import RegistrySettings
from umkm_shared.auth import Actor, ActorKind
from umkm_shared.ids import new_id

# The Dinas of Kota Bandung (32.73) is the usual caller; desa Cipedes, kecamatan Sukajadi.
BANDUNG = "32.73"
BANDUNG_VILLAGE = "32.73.07.1002"
JAKARTA_VILLAGE = "31.71.01.1001"

READ_WRITE = frozenset({"registry:read", "registry:write"})


def registry_settings(db_url: str, keys: dict[str, Any], **extra: Any) -> RegistrySettings:
    return RegistrySettings(
        database_url=db_url, environment="test", log_json=False, **keys, **extra
    )


def mint(
    app: FastAPI,
    kind: str,
    *,
    wilayah: str | None = None,
    actor_id: str | None = None,
    scopes: frozenset[str] = READ_WRITE,
) -> dict[str, str]:
    """Authorization headers with a fresh token for an actor of `kind`."""
    actor = Actor(
        kind=ActorKind(kind),
        client_id=f"test-{kind}-{new_id().hex}",
        wilayah=wilayah,
        actor_id=actor_id,
        scopes=scopes,
    )
    token = app.state.token_issuer.issue(actor).access_token
    return {"Authorization": f"Bearer {token}"}


_serial = count(1)


def valid_nik(district6: str = "327307", day: int = 17, month: int = 8, year2: int = 85) -> str:
    return f"{district6}{day:02d}{month:02d}{year2:02d}{next(_serial) % 9999 + 1:04d}"


def new_umkm(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "business_name": "KERIPIK TEMPE BU SRI",
        "owner_name": "SRI WAHYUNI",
        "owner_nik": valid_nik(day=57),  # a woman born 17 Aug 1985
        "kbli": {"version": "2020", "code": "10794"},
        "village_code": BANDUNG_VILLAGE,
        "address": "Jl. Sukajadi No. 12 RT 03/RW 05",
        "capital_idr": 50_000_000,
        "annual_sales_idr": 300_000_000,
        "workforce": 3,
        "founded_on": "2018-03-01",
        "products": ["Keripik tempe", "Keripik singkong"],
        "certifications": [
            {"kind": "halal", "number": "ID32110000123450123", "valid_until": "2028-01-01"}
        ],
    }
    body.update(over)
    return body


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(new_id())}


async def read_registry_topic(
    bootstrap: str, wanted: dict[str, int], seconds: float = 30
) -> dict[str, list[Any]]:
    """Records of `umkm.registry.v1` by message key, read from the start until each key in
    `wanted` has at least its count (a fresh consumer group, nothing committed)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        "umkm.registry.v1",
        bootstrap_servers=bootstrap,
        group_id=f"test-{new_id().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    by_key: dict[str, list[Any]] = {key: [] for key in wanted}
    await consumer.start()
    try:
        async with asyncio.timeout(seconds):
            while any(len(by_key[k]) < n for k, n in wanted.items()):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for m in records:
                        if m.key and m.key.decode() in by_key:
                            by_key[m.key.decode()].append(m)
    finally:
        await consumer.stop()
    return by_key
