"""The embedded platform (`make run`): every service mounted under its prefix in one process,
each with its own database on one PostgreSQL, demo clients that can get tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from umkm_platform.app import SERVICES, build_platform, prepare_databases
from umkm_platform.demo import ensure_clients
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
    # a restart reuses the saved credentials instead of creating new clients
    assert (tmp_path / "creds.json").exists()
