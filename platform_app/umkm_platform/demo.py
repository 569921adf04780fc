"""Demo data for the embedded platform: OAuth clients for the ministry and two Dinas, a demo
anchor and a demo bank, and a sample of synthetic UMKM. Created on first start; a load cut short
resumes where it stopped."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from umkm_registry.context import RegistryContext
from umkm_registry.schemas import UmkmCreate
from umkm_shared.auth import Actor, ActorKind, ClientStore
from umkm_shared.db import Database

log = structlog.stdlib.get_logger("umkm_platform.demo")

# (name, kind, wilayah, actor_id, scopes) of the demo clients.
DEMO_CLIENTS: tuple[tuple[str, str, str | None, str | None, list[str]], ...] = (
    (
        "Kementerian UMKM",
        "ministry",
        None,
        None,
        ["registry:read", "registry:write", "registry:pii"],
    ),
    ("Dinas KUKM Provinsi Jawa Barat", "dinas", "32", None, ["registry:read", "registry:write"]),
    ("Dinas KUKM Kota Bandung", "dinas", "32.73", None, ["registry:read", "registry:write"]),
)
DEMO_REGIONS = ("32", "31", "35", "51")  # Jawa Barat, DKI Jakarta, Jawa Timur, Bali
SEED = 2026
AS_OF = date(2026, 11, 1)  # pinned so a resumed load continues the same sequence
BATCH = 250


async def ensure_clients(db: Database, path: Path) -> list[dict[str, Any]]:
    """The demo clients: created on first start, then read back from `path`."""
    if path.exists():
        saved: list[dict[str, Any]] = json.loads(path.read_text())
        return saved
    clients = []
    async with db.transaction() as session:
        store = ClientStore(session)
        for name, kind, wilayah, actor_id, scopes in DEMO_CLIENTS:
            client_id, secret = await store.create_client(
                name=name, kind=kind, wilayah=wilayah, actor_id=actor_id, scopes=scopes
            )
            clients.append(
                {
                    "name": name,
                    "kind": kind,
                    "wilayah": wilayah,
                    "client_id": client_id,
                    "client_secret": secret,
                    "scopes": scopes,
                }
            )
    path.write_text(json.dumps(clients, indent=2))
    path.chmod(0o600)
    return clients


def demo_token(app: FastAPI, client: dict[str, Any], ttl_seconds: int = 12 * 3600) -> str:
    actor = Actor(
        kind=ActorKind(client["kind"]),
        client_id=client["client_id"],
        wilayah=client["wilayah"],
        scopes=frozenset(client["scopes"]),
    )
    return str(app.state.token_issuer.issue(actor, ttl_seconds=ttl_seconds).access_token)


async def load_umkm(app: FastAPI, progress_path: Path, total: int) -> int:
    """Register `total` synthetic UMKM through the registry's own use case (so events flow).

    Progress is saved after every committed batch; the generator is deterministic, so a
    restarted load skips what was done and continues.
    """
    from umkm_shared.synthetic import generate

    done = int(progress_path.read_text()) if progress_path.exists() else 0
    if done >= total:
        return done
    ctx: RegistryContext = app.state.registry
    actor = Actor(kind=ActorKind.MINISTRY, client_id="demo-loader", scopes=frozenset())
    started = time.monotonic()
    batch: list[UmkmCreate] = []
    per_region = total // len(DEMO_REGIONS)
    index = 0
    for region_no, region in enumerate(DEMO_REGIONS):
        count = per_region if region_no < len(DEMO_REGIONS) - 1 else total - per_region * region_no
        for record in generate(count, seed=SEED + region_no, within=region, as_of=AS_OF):
            index += 1
            if index <= done:
                continue
            batch.append(UmkmCreate.model_validate(record.registry_json()))
            if len(batch) == BATCH or index == total:
                async with ctx.db.transaction() as session:
                    service = ctx.service(session, actor)
                    for body in batch:
                        await service.register(body)
                done = index
                progress_path.write_text(str(done))
                batch.clear()
                rate = (done) / max(time.monotonic() - started, 1e-6)
                log.info("demo data", loaded=done, total=total, rows_per_s=round(rate))
    return done


# The demo partners: an anchor company (with a delivery site and an API client) registered at
# the supply-chain service and a partner bank onboarded at the financing broker, both through
# their public APIs as the ministry, so their events flow like any other partner's.
DEMO_ANCHOR = {
    "name": "PT Motor Listrik Nusantara (Persero)",
    "sector": "otomotif",
    "state_owned": True,
    "province_code": "32",
}
DEMO_ANCHOR_SITE = {
    "name": "Pabrik perakitan Cikarang",
    "latitude": -6.3003,
    "longitude": 107.1675,
    "address": "Kawasan Industri Jababeka, Cikarang, Kab. Bekasi",
}
DEMO_BANK_NAME = "Bank Demo Nusantara"


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST as the ministry with a fresh Idempotency-Key; any non-201 answer is an error."""
    resp = await client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    if resp.status_code != 201:
        raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:500]}")
    answer: dict[str, Any] = resp.json()
    return answer


async def ensure_partners(
    supply_chain: FastAPI, financing: FastAPI, ministry_token: str, path: Path
) -> dict[str, Any]:
    """A demo anchor (site and API client) and a demo bank: created once, then read from `path`.

    A start cut short before `path` was written simply creates them again (new ids) next time.
    """
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        return saved
    headers = {"Authorization": f"Bearer {ministry_token}"}

    def client(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://demo.local", headers=headers
        )

    async with client(supply_chain) as sc:
        anchor = await _post(sc, "/v1/anchors", DEMO_ANCHOR)
        site = await _post(sc, f"/v1/anchors/{anchor['id']}/sites", DEMO_ANCHOR_SITE)
        anchor_client = await _post(
            sc, f"/v1/anchors/{anchor['id']}/clients", {"name": "ERP demo anchor"}
        )
    async with client(financing) as fin:
        # bank codes are unique: a suffix keeps a second demo database on the same server apart
        code = f"DEMO_{secrets.token_hex(2).upper()}"
        bank = await _post(fin, "/v1/banks", {"name": DEMO_BANK_NAME, "code": code})
    partners = {
        "anchor": {
            "name": anchor["name"],
            "anchor_id": anchor["id"],
            "site_id": site["id"],
            "client_id": anchor_client["client_id"],
            "client_secret": anchor_client["client_secret"],
            "token_url": "/supply-chain/v1/oauth/token",
        },
        "bank": {
            "name": bank["name"],
            "bank_id": bank["id"],
            "code": bank["code"],
            "client_id": bank["client_id"],
            "client_secret": bank["client_secret"],
            "partner_id": bank["partner_id"],
            "signing_secret": bank["signing_secret"],
            "token_url": "/financing/v1/oauth/token",
        },
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(partners, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return partners
