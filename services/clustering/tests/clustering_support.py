"""Helpers for clustering tests: settings, tokens, registry events as the registry sends them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from umkm_clustering.config import Settings
from umkm_clustering.synthetic_points import generate_points, regencies
from umkm_shared.auth import Actor, ActorKind
from umkm_shared.events.base import EventPayload, make_event
from umkm_shared.events.envelope import to_kafka
from umkm_shared.events.registry import KbliRef, UmkmRegistered, UmkmSnapshot
from umkm_shared.ids import new_id
from umkm_shared.messaging.bus import BusMessage

# a KBLI kelompok per sector of the default taxonomy
SECTOR_KBLI = {
    "kuliner": "56102",
    "pariwisata": "55130",
    "fesyen": "14111",
    "kerajinan": "31001",
    "otomotif": "45407",
    "pertanian": "01131",
    "kelautan_perikanan": "03111",
    "perdagangan": "47112",  # falls back to golongan pokok kbli-47
    "olahraga": "93114",
    "mbg": "56290",
}


def settings(db_url: str, keys: dict[str, Any], **extra: Any) -> Settings:
    base: dict[str, Any] = {"min_cluster_size": 100, "max_cluster_size": 200}
    base.update(extra)
    return Settings(database_url=db_url, environment="test", log_json=False, **keys, **base)


def mint(app: Any, kind: str, *, wilayah: str | None = None) -> dict[str, str]:
    actor = Actor(
        kind=ActorKind(kind),
        client_id=f"test-{kind}-{new_id().hex}",
        wilayah=wilayah,
        actor_id="x" if kind in ("bank", "anchor", "koperasi") else None,
        scopes=frozenset(),
    )
    token = app.state.token_issuer.issue(actor).access_token
    return {"Authorization": f"Bearer {token}"}


def snapshot(
    umkm_id: uuid.UUID,
    kbli: str,
    regency: str,
    lat: float | None,
    lon: float | None,
    *,
    version: int = 1,
    status: str = "active",
    scale: str = "mikro",
) -> UmkmSnapshot:
    now = datetime.now(UTC)
    return UmkmSnapshot(
        umkm_id=umkm_id,
        business_name=f"USAHA {str(umkm_id)[-6:]}",
        owner_name="SRI",
        owner_nik_hash="ab" * 16,
        owner_nik_masked="3273************",
        kbli_primary=KbliRef(version="2020", code=kbli),
        village_code=f"{regency}.01.2001",
        district_code=f"{regency}.01",
        regency_code=regency,
        province_code=regency[:2],
        latitude=lat,
        longitude=lon,
        scale=scale,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        version=version,
        registered_at=now,
        updated_at=now,
    )


def message(payload: EventPayload, source: str = "/registry") -> BusMessage:
    event = make_event(payload, source)
    return to_kafka(event, payload.topic, payload.message_key())


def population_snapshots(
    n: int, seed: int = 3, provinces: tuple[str, ...] = ("32", "33", "35")
) -> list[UmkmSnapshot]:
    """n UMKM across a few provinces with uneven sectors (some far below min)."""
    table = regencies()
    keep = np.flatnonzero(np.isin([c[:2] for c in table.codes], provinces))
    shares = {
        "kuliner": 0.45,
        "perdagangan": 0.2,
        "pertanian": 0.12,
        "fesyen": 0.1,
        "pariwisata": 0.08,
        "otomotif": 0.03,
        "olahraga": 0.005,
        "mbg": 0.015,
    }
    pts = generate_points(n * 20, seed=seed, shares=shares)
    sel = np.flatnonzero(np.isin(pts.regency_row, keep))[:n]
    rng = np.random.default_rng(seed)
    out = []
    for i in sel:
        code = table.codes[int(pts.regency_row[i])]
        no_coords = rng.random() < 0.1
        out.append(
            snapshot(
                new_id(),
                SECTOR_KBLI[pts.sectors[int(pts.sector[i])]],
                code,
                None if no_coords else float(pts.lat[i]),
                None if no_coords else float(pts.lon[i]),
            )
        )
    return out


def registered(s: UmkmSnapshot) -> UmkmRegistered:
    return UmkmRegistered(umkm=s)
