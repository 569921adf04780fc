"""The embedded platform (`make run`): every service mounted under its prefix in one process,
each with its own database on one PostgreSQL, demo clients that can get tokens, and the demo
anchor and bank created through the supply-chain and financing APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from umkm_platform.app import SERVICES, build_platform, prepare_databases
from umkm_platform.demo import demo_token, ensure_clients, ensure_partners
from umkm_shared.devkeys import dev_secrets


async def test_all_services_mounted_with_docs_and_demo_credentials_work(
    pg_admin_url: str, tmp_path: Path
) -> None:
    await prepare_databases(pg_admin_url)
    await prepare_databases(pg_admin_url)  # a second start migrates nothing and fails nothing
    found: dict[str, Any] = {}

    async def on_ready(services: dict[str, Any]) -> None:
        found["clients"] = await ensure_clients(
            services["/registry"][1].db, tmp_path / "creds.json"
        )
        ministry = next(c for c in found["clients"] if c["kind"] == "ministry")
        token = demo_token(services["/registry"][0], ministry)
        args = (services["/supply-chain"][0], services["/financing"][0], token)
        found["partners"] = await ensure_partners(*args, tmp_path / "partners.json")
        # a second start reads the saved partners instead of creating new ones
        found["again"] = await ensure_partners(*args, tmp_path / "partners.json")

    app, services = build_platform(
        pg_admin_url,
        dev_secrets(tmp_path / "keys"),
        on_ready=on_ready,
        environment="test",
        log_json=False,
    )
    assert sorted(services) == sorted(s.prefix for s in SERVICES)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://platform.test") as c:
            for prefix in services:
                assert (await c.get(f"{prefix}/healthz")).status_code == 200
                ready = await c.get(f"{prefix}/readyz")
                assert ready.status_code == 200, ready.text
                spec = (await c.get(f"{prefix}/openapi.json")).json()
                assert spec["info"]["title"].startswith("UMKM")
                docs = await c.get(f"{prefix}/docs")
                assert docs.status_code == 200 and f"{prefix}/openapi.json" in docs.text
            clients = found["clients"]
            assert {c_["kind"] for c_ in clients} == {"ministry", "dinas"}
            dinas = next(x for x in clients if x["wilayah"] == "32.73")
            token = await c.post(
                "/registry/v1/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": dinas["client_id"],
                    "client_secret": dinas["client_secret"],
                },
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            r = await c.get("/registry/v1/umkm", params={"limit": 1}, headers=headers)
            assert r.status_code == 200

            partners = found["partners"]
            assert found["again"] == partners
            anchor, bank = partners["anchor"], partners["bank"]
            # the anchor's client gets a token at the supply-chain service and sees its anchor
            token = await c.post(
                anchor["token_url"],
                data={"grant_type": "client_credentials"},
                auth=(anchor["client_id"], anchor["client_secret"]),
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            r = await c.get(f"/supply-chain/v1/anchors/{anchor['anchor_id']}", headers=headers)
            assert r.status_code == 200, r.text
            sites = await c.get(
                f"/supply-chain/v1/anchors/{anchor['anchor_id']}/sites", headers=headers
            )
            assert sites.status_code == 200, sites.text
            assert anchor["site_id"] in sites.text
            # the same token is accepted by the financing broker (one signing key)
            r = await c.get("/financing/v1/anchor/programmes", headers=headers)
            assert r.status_code == 200, r.text
            # the bank's client gets a token at the financing broker, with the bank scope
            token = await c.post(
                bank["token_url"],
                data={"grant_type": "client_credentials", "scope": "financing:bank"},
                auth=(bank["client_id"], bank["client_secret"]),
            )
            assert token.status_code == 200, token.text
            assert "financing:bank" in token.json()["scope"]
            assert bank["partner_id"] and bank["signing_secret"]
    # a restart reuses the saved credentials instead of creating new clients
    assert (tmp_path / "creds.json").exists()


def test_banner_names_every_service_and_the_demo_partners(tmp_path: Path) -> None:
    from umkm_platform.__main__ import banner

    clients = [
        {"name": "Kementerian UMKM", "kind": "ministry", "wilayah": None},
        {"name": "Dinas KUKM Provinsi Jawa Barat", "kind": "dinas", "wilayah": "32"},
    ]
    for c in clients:
        c |= {"client_id": f"id-{c['kind']}", "client_secret": "s3cret"}
    partners = {
        "anchor": {
            "name": "PT Anchor",
            "anchor_id": "a-1",
            "site_id": "s-1",
            "client_id": "anchor-client",
            "client_secret": "anchor-secret",
            "token_url": "/supply-chain/v1/oauth/token",
        },
        "bank": {
            "name": "Bank Demo",
            "client_id": "bank-client",
            "client_secret": "bank-secret",
            "partner_id": "DEMO-1",
            "token_url": "/financing/v1/oauth/token",
        },
    }
    text = banner("http://h", clients, {}, tmp_path / "t.txt", partners, tmp_path / "partners.json")
    for spec in SERVICES:
        assert f"http://h{spec.prefix}/docs" in text
    assert "health only" not in text
    for value in ("anchor-client", "anchor-secret", "bank-client", "DEMO-1", "partners.json"):
        assert value in text
    # without partners (their creation failed) the banner still prints
    assert "PT Anchor" not in banner("http://h", clients, {}, tmp_path / "t.txt")
