"""Every endpoint of every service, fed malformed and hostile input: never a 500, always a
problem+json answer (RFC 9457). The operations come from the services' own OpenAPI documents, so a
new endpoint is covered the day it is added."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from umkm_platform.app import build_platform, prepare_databases
from umkm_shared.auth import Actor, ActorKind
from umkm_shared.devkeys import dev_secrets

BODIES: list[tuple[str, bytes]] = [
    ("not json", b"{not json"),
    ("a list", b"[]"),
    ("empty object", b"{}"),
    ("a string", b'"x"'),
    ("deep nesting", b"[" * 5000 + b"]" * 5000),
    (
        "hostile values",
        b'{"name": "\\u0000", "business_name": "A\\u0000B", "amount_idr": 1e400, '
        b'"quantity": "-1", "id": "../../etc/passwd", "url": "http://169.254.169.254/", '
        b'"kbli_code": "\'; DROP TABLE umkm; --", "products": [null], "latitude": "NaN"}',
    ),
]
QUERIES = "limit=-5&cursor=%00%ff&since=!!!&wilayah=..%2F..&status=%27&q=%00&as_of=yesterday"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform(pg_admin_url: str, tmp_path_factory: Any) -> AsyncIterator[dict[str, Any]]:
    await prepare_databases(pg_admin_url)
    folder: Path = tmp_path_factory.mktemp("hostile")
    app, services = build_platform(
        pg_admin_url, dev_secrets(folder / "keys"), environment="test", log_json=False
    )
    async with app.router.lifespan_context(app):
        yield {"app": app, "services": services}


def operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_no_endpoint_answers_hostile_input_with_a_500(platform: dict[str, Any]) -> None:
    registry_app = platform["services"]["/registry"][0]
    issuer = registry_app.state.token_issuer
    scopes = frozenset({"registry:read", "registry:write", "registry:pii"})
    actors = [
        Actor(kind=ActorKind.MINISTRY, client_id="fuzz-ministry", scopes=scopes),
        Actor(kind=ActorKind.DINAS, client_id="fuzz-dinas", wilayah="32.73", scopes=scopes),
        Actor(kind=ActorKind.ANCHOR, client_id="fuzz-anchor", actor_id=str(uuid.uuid4())),
    ]
    tokens = [issuer.issue(a).access_token for a in actors]
    failures: list[str] = []
    checked = 0
    statuses: list[int] = []
    transport = httpx.ASGITransport(app=platform["app"], raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://fuzz.test") as client:
        for prefix in platform["services"]:
            spec = (await client.get(f"{prefix}/openapi.json")).json()
            for method, path in operations(spec):
                url = f"{prefix}{concrete(path)}"
                for token in tokens:
                    headers = {"Authorization": f"Bearer {token}", "If-Match": '"1"'}
                    if method in {"GET", "DELETE"}:
                        attempts = [(f"{url}?{QUERIES}", None)]
                    else:
                        attempts = [(url, body) for _, body in BODIES]
                    for target, body in attempts:
                        resp = await client.request(
                            method,
                            target,
                            content=body,
                            headers=headers
                            | {
                                "content-type": "application/json",
                                "Idempotency-Key": str(uuid.uuid4()),  # a new one each time
                            },
                        )
                        checked += 1
                        statuses.append(resp.status_code)
                        type_ = resp.headers.get("content-type", "")
                        if resp.status_code >= 500:
                            failures.append(f"{method} {target} -> {resp.status_code}")
                        elif resp.status_code >= 400 and "problem+json" not in type_:
                            if "oauth/token" not in path:  # RFC 6749 errors have their own shape
                                failures.append(f"{method} {target} -> {resp.status_code} {type_}")
    assert checked > 500
    assert statuses.count(422) > 100  # most bodies got as far as validation (not just 401/403)
    assert failures == [], "\n".join(failures[:40])


async def test_an_oversized_body_is_refused_before_it_is_read(platform: dict[str, Any]) -> None:
    transport = httpx.ASGITransport(app=platform["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://fuzz.test") as client:
        for prefix in ("/registry/v1/umkm", "/supply-chain/v1/anchors", "/financing/v1/banks"):
            resp = await client.post(
                prefix,
                content=b"{" + b" " * 3_000_000 + b"}",
                headers={"content-type": "application/json"},
            )
            assert resp.status_code == 413, (prefix, resp.status_code)
            assert resp.headers["content-type"].startswith("application/problem+json")
