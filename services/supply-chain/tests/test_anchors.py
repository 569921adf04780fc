"""Anchors: registered by the ministry (NIB/NPWP validated), changed with events, their sites
and API clients (client credentials -> token -> the anchor acts as itself)."""

from __future__ import annotations

import httpx
import orjson
from fastapi import FastAPI
from sc_support import PLANT, idem, mint, new_anchor, request_body
from sqlalchemy import select

from umkm_shared.ids import new_id
from umkm_shared.runtime import ServiceRuntime
from umkm_supply_chain.config import Settings
from umkm_supply_chain.models import messaging_tables


async def outbox_events(runtime: ServiceRuntime, key: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    outbox = messaging_tables.outbox
    async with runtime.db.session() as session:
        rows = await session.execute(
            select(outbox.c.type, outbox.c.data).where(outbox.c.key == key).order_by(outbox.c.id)
        )
        return [(t, d) for t, d in rows]


async def test_register_and_update_anchor_with_events(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    ministry = mint(app, "ministry")
    nib = f"{new_id().int % 10**13:013d}"
    body = {
        "name": "PT KERETA NUSANTARA",
        "nib": nib,
        "npwp": "01.234.567.8-901.000",
        "sector": "otomotif",
        "state_owned": True,
        "province_code": "32",
    }
    r = await client.post("/v1/anchors", json=body, headers=ministry | idem())
    assert r.status_code == 201, r.text
    anchor = r.json()
    assert anchor["npwp"] == "0012345678901000" and anchor["version"] == 1

    r = await client.post("/v1/anchors", json=body, headers=ministry | idem())
    assert r.status_code == 409 and r.json()["existing_id"] == anchor["id"]
    r = await client.post(
        "/v1/anchors", json=body | {"nib": "12", "npwp": "x"}, headers=ministry | idem()
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"body.nib", "body.npwp"}
    r = await client.post(
        "/v1/anchors",
        json=body | {"nib": None},
        headers=mint(app, "anchor", actor_id=anchor["id"]) | idem(),
    )
    assert r.status_code == 403

    r = await client.patch(
        f"/v1/anchors/{anchor['id']}", json={"status": "suspended"}, headers=ministry
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    events = await outbox_events(runtime, anchor["id"])
    assert [t for t, _ in events] == [
        "id.umkm.supply_chain.anchor.registered.v1",
        "id.umkm.supply_chain.anchor.updated.v1",
    ]
    assert events[1][1]["changed_fields"] == ["status"]
    assert events[1][1]["anchor"]["status"] == "suspended"

    # a suspended anchor cannot post requests
    own = mint(app, "anchor", actor_id=anchor["id"])
    r = await client.post(
        "/v1/procurement-requests", json=request_body("29300", "pcs", 5), headers=own | idem()
    )
    assert r.status_code == 409


async def test_client_credentials_sites_and_isolation(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    anchor_id = await new_anchor(client, app)
    other_id = await new_anchor(client, app, "PT LAIN")
    ministry = mint(app, "ministry")
    r = await client.post(
        f"/v1/anchors/{anchor_id}/clients", json={"name": "ERP"}, headers=ministry | idem()
    )
    assert r.status_code == 201, r.text
    creds = r.json()
    assert creds["client_secret"].startswith("umkm_cs_")
    r = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    token = {"Authorization": f"Bearer {r.json()['access_token']}"}

    r = await client.get("/v1/anchors", headers=token)
    assert [a["id"] for a in r.json()["items"]] == [anchor_id]
    assert (await client.get(f"/v1/anchors/{other_id}", headers=token)).status_code == 404
    r = await client.get(f"/v1/anchors/{anchor_id}/clients", headers=token)
    assert [c["client_id"] for c in r.json()] == [creds["client_id"]]
    assert "client_secret" not in r.json()[0] or r.json()[0]["client_secret"] is None

    r = await client.post(
        f"/v1/anchors/{anchor_id}/sites",
        json={"name": "Pabrik Cikarang", "latitude": PLANT[0], "longitude": PLANT[1]},
        headers=token | idem(),
    )
    assert r.status_code == 201, r.text
    site = r.json()
    r = await client.post(
        f"/v1/anchors/{other_id}/sites",
        json={"name": "x", "latitude": PLANT[0], "longitude": PLANT[1]},
        headers=token | idem(),
    )
    assert r.status_code == 404
    body = request_body("29300", "pcs", 5)
    del body["delivery"]
    r = await client.post(
        "/v1/procurement-requests", json=body | {"site_id": site["id"]}, headers=token | idem()
    )
    assert r.status_code == 201, r.text
    assert r.json()["delivery"] == {"latitude": PLANT[0], "longitude": PLANT[1]}
    other = mint(app, "anchor", actor_id=other_id)
    r = await client.post(
        "/v1/procurement-requests", json=body | {"site_id": site["id"]}, headers=other | idem()
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.site_id"

    # idempotent replay of the same creation
    key = idem()
    r1 = await client.post(
        "/v1/procurement-requests", json=body | {"site_id": site["id"]}, headers=token | key
    )
    r2 = await client.post(
        "/v1/procurement-requests", json=body | {"site_id": site["id"]}, headers=token | key
    )
    assert r1.json()["id"] == r2.json()["id"] and r2.headers["idempotent-replayed"] == "true"

    r = await client.post(
        f"/v1/anchors/{anchor_id}/clients/{creds['client_id']}/disable", headers=ministry
    )
    assert r.status_code == 204
    r = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
        },
    )
    assert r.status_code == 401
    assert orjson.loads(r.content)["error"] == "invalid_client"


def test_private_webhook_targets_only_in_test_mode() -> None:
    assert Settings(environment="test").allow_private_webhook_targets is True
    assert Settings(environment="prod").allow_private_webhook_targets is False
    assert Settings(environment="dev").allow_private_webhook_targets is False
