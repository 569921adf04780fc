"""SNAP request signing on bank endpoints: a good signature passes; a wrong one, an expired or
malformed timestamp, a replayed X-EXTERNAL-ID, another partner's id or another bank's secret
are refused with problem+json carrying SNAP's responseCode. Also the OAuth2 token endpoint."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
from financing_support import PROBLEM, World, idem, programme_body
from sqlalchemy import select

from umkm_financing.models import Programme
from umkm_financing.snap import body_digest, minify_json, sign, string_to_sign


def test_string_to_sign_follows_snap() -> None:
    body = b'{ "amount_idr": 1000,\n  "note": "a b" }'
    assert minify_json(body) == b'{"amount_idr":1000,"note":"a b"}'
    assert body_digest(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    s = string_to_sign("post", "/v1/bank/x?y=1", "tok", body, "2026-11-27T16:00:00+07:00")
    assert s == f"POST:/v1/bank/x?y=1:tok:{body_digest(body)}:2026-11-27T16:00:00+07:00"
    sig = base64.b64decode(sign("k", "POST", "/p", "t", b"{}", "ts"))
    assert len(sig) == 64  # SHA-512


async def test_signed_request_passes_and_each_fault_is_refused(world: World) -> None:
    bank, other = world.bank_a, world.bank_b
    path = "/v1/bank/programmes"
    body = orjson.dumps(programme_body(world.anchor_id, name="Signed"))

    async def send(headers: dict[str, str], content: bytes = body) -> object:
        h = headers | idem() | {"content-type": "application/json"}
        return await world.client.post(path, content=content, headers=h)

    ok = await send(bank.headers("POST", path, body))
    assert ok.status_code == 201, ok.text
    h = bank.headers("POST", path, body)
    h["X-SIGNATURE"] = base64.b64decode(h["X-SIGNATURE"]).hex()  # hex-encoded MAC is accepted
    assert (await send(h)).status_code == 201

    def refused(r, status: int, code: str, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        p = r.json()
        assert p["responseCode"] == code, p
        if field:
            assert field in [e["field"] for e in p["errors"]], p
        return p

    # Wrong signature: signed with another bank's secret, or over another body.
    h = bank.headers("POST", path, body)
    h["X-SIGNATURE"] = other.headers("POST", path, body)["X-SIGNATURE"]
    refused(await send(h), 401, "4010000", "header.X-SIGNATURE")
    h = bank.headers("POST", path, b'{"other": 1}')
    refused(await send(h), 401, "4010000", "header.X-SIGNATURE")
    # Tampered path (query added after signing).
    h = bank.headers("POST", path + "?x=1", body)
    refused(await send(h), 401, "4010000", "header.X-SIGNATURE")

    # Expired (or future) timestamp, correctly signed.
    old = datetime.now(UTC) - timedelta(minutes=6)
    refused(await send(bank.headers("POST", path, body, now=old)), 401, "4010000",
            "header.X-TIMESTAMP")  # fmt: skip
    future = datetime.now(UTC) + timedelta(minutes=6)
    refused(await send(bank.headers("POST", path, body, now=future)), 401, "4010000")
    h = bank.headers("POST", path, body)
    h["X-TIMESTAMP"] = "2026-11-27 16:00:00"
    refused(await send(h), 400, "4000001", "header.X-TIMESTAMP")

    # Replayed X-EXTERNAL-ID (same partner, same day), even with a fresh signature.
    h = bank.headers("POST", path, body, external_id="900001")
    assert (await send(h)).status_code == 201
    h = bank.headers("POST", path, body, external_id="900001")
    refused(await send(h), 409, "4090000", "header.X-EXTERNAL-ID")
    # ... while another partner may use the same external id (A's body, B's signature).
    h = other.headers("POST", path, body, external_id="900001")
    assert (await send(h)).status_code == 201

    # Another partner's id with this bank's token.
    h = bank.headers("POST", path, body)
    h["X-PARTNER-ID"] = other.partner_id
    refused(await send(h), 401, "4010000", "header.X-PARTNER-ID")

    # Missing headers.
    h = bank.headers("POST", path, body)
    del h["X-SIGNATURE"], h["X-EXTERNAL-ID"]
    p = refused(await send(h), 400, "4000002")
    assert {"header.X-SIGNATURE", "header.X-EXTERNAL-ID"} <= {e["field"] for e in p["errors"]}

    # No token, or a non-bank token: the bank endpoints are closed.
    h = bank.headers("POST", path, body)
    del h["Authorization"]
    assert (await send(h)).status_code == 401
    h = bank.headers("POST", path, body) | world.anchor
    assert (await send(h)).status_code == 403

    # GET requests are signed too (empty body).
    r = await bank.get("/v1/bank/programmes")
    assert r.status_code == 200
    names = [p["name"] for p in r.json()]
    assert len(names) == 4 and names.count("Signed") == 3  # the fixture's and three signed ones


async def test_refused_requests_change_nothing(world: World, runtime) -> None:
    bank = world.bank_a
    path = "/v1/bank/programmes"
    body = orjson.dumps(programme_body(world.anchor_id, name="Never"))
    h = bank.headers("POST", path, body)
    h["X-SIGNATURE"] = base64.b64encode(b"x" * 64).decode()
    r = await world.client.post(path, content=body, headers=h | idem())
    assert r.status_code == 401
    async with runtime.db.session() as s:
        assert (await s.scalar(select(Programme.id).where(Programme.name == "Never"))) is None


async def test_bank_gets_a_token_with_client_credentials(world: World) -> None:
    bank = world.bank_a
    r = await world.client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": bank.client_id,
            "client_secret": bank.client_secret,
        },
    )
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["scope"] == "financing:bank"
    bank.token = token["access_token"]
    r = await bank.get("/v1/bank/limits")
    assert r.status_code == 200, r.text
    r = await world.client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": bank.client_id,
              "client_secret": "umkm_cs_wrong"},
    )  # fmt: skip
    assert r.status_code == 401
