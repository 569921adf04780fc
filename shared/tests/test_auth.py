"""Auth: actors, access tokens, the OAuth client store and token endpoint (real PostgreSQL),
and the 401/403 problems of the FastAPI dependencies."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
import pytest_asyncio
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr, ValidationError

from umkm_shared.auth import (
    Actor,
    ActorKind,
    AnyActor,
    AuthenticationFailed,
    ClientStore,
    DinasActor,
    MinistryActor,
    TokenIssuer,
    TokenVerifier,
    cli,
    create_auth_tables,
    drop_auth_tables,
    require_actor,
    token_router,
    wilayah_clause,
)
from umkm_shared.auth.tokens import (
    generate_private_key,
    key_id,
    load_public_keys,
    private_key_pem,
    verifier_from_settings,
)
from umkm_shared.db import Database
from umkm_shared.errors import Forbidden
from umkm_shared.settings import ServiceSettings
from umkm_shared.web import create_service_app

ISS, AUD = "https://auth.test", "umkm-test"
# Module level: with postponed annotations FastAPI resolves aliases from module globals.
Writer = Annotated[Actor, Depends(require_actor({"dinas", "ministry"}, scope="registry:write"))]
PROBLEM = "application/problem+json"

# ---------------------------------------------------------------------------------------------
# Actor
# ---------------------------------------------------------------------------------------------


def _dinas(wilayah: str = "32.73", scopes: frozenset[str] = frozenset()) -> Actor:
    return Actor(kind=ActorKind.DINAS, client_id="c-dinas", wilayah=wilayah, scopes=scopes)


def test_actor_wilayah_prefix_on_dotted_codes() -> None:
    kota = _dinas("32.73")
    assert kota.can_access_wilayah("32.73")
    assert kota.can_access_wilayah("32.73.01.1001")
    assert not kota.can_access_wilayah("32.7")
    assert not kota.can_access_wilayah("32.730")
    assert not kota.can_access_wilayah("32.74.01")
    province = _dinas("32")
    assert province.can_access_wilayah("32.73.01") and not province.can_access_wilayah("33.01")
    assert Actor(kind="ministry", client_id="m").can_access_wilayah("91.01")
    assert not Actor(kind="bank", client_id="b", actor_id="bri").can_access_wilayah("32")


def test_actor_kind_fields_are_checked() -> None:
    for bad in (
        {"kind": "dinas", "client_id": "x"},  # no wilayah
        {"kind": "dinas", "client_id": "x", "wilayah": "32.73.01"},  # kecamatan is no Dinas
        {"kind": "bank", "client_id": "x"},  # no actor_id
        {"kind": "bank", "client_id": "x", "actor_id": "bri", "wilayah": "32"},
        {"kind": "alien", "client_id": "x"},
    ):
        with pytest.raises(ValidationError):
            Actor.model_validate(bad)


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def _pair(curve: bool = False) -> tuple[TokenIssuer, TokenVerifier]:
    key = ec.generate_private_key(ec.SECP256R1()) if curve else generate_private_key()
    issuer = TokenIssuer(key, issuer=ISS, audience=AUD, ttl_seconds=600)
    return issuer, TokenVerifier([issuer.public_key], issuer=ISS, audience=AUD)


@pytest.mark.parametrize("curve", [False, True], ids=["EdDSA", "ES256"])
def test_issue_and_verify(curve: bool) -> None:
    issuer, verifier = _pair(curve)
    actor = _dinas(scopes=frozenset({"registry:read", "registry:write"}))
    token = issuer.issue(actor)
    assert token.expires_in == 600 and token.scope == "registry:read registry:write"
    assert verifier.verify(token.access_token) == actor
    header = jwt.get_unverified_header(token.access_token)
    assert header == {"alg": "ES256" if curve else "EdDSA", "kid": issuer.kid, "typ": "at+jwt"}
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["sub"] == claims["client_id"] == "c-dinas"
    assert claims["actor_kind"] == "dinas" and claims["wilayah"] == "32.73"
    assert {"iat", "exp", "jti", "iss", "aud"} <= claims.keys()


def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        verifier.verify(token)
    assert info.value.status == 401
    assert 'error="invalid_token"' in info.value.headers["WWW-Authenticate"]
    return info.value.detail


def test_expired_token() -> None:
    issuer, verifier = _pair()
    old = issuer.issue(_dinas(), now=time.time() - 3600)
    assert "expired" in _refused(verifier, old.access_token)


def test_wrong_key_and_tampered_signature() -> None:
    issuer, _ = _pair()
    other, other_verifier = _pair()
    token = issuer.issue(_dinas()).access_token
    assert "unknown key" in _refused(other_verifier, token)
    # Same kid, other key material: the signature check must fail.
    confused = TokenVerifier({issuer.kid: other.public_key}, issuer=ISS, audience=AUD)
    assert "signature" in _refused(confused, token)
    head, payload, sig = token.split(".")
    forged = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "==").replace(b"32.73", b"31.71")
        )
        .rstrip(b"=")
        .decode()
    )
    _, verifier = issuer, TokenVerifier([issuer.public_key], issuer=ISS, audience=AUD)
    assert "signature" in _refused(verifier, f"{head}.{forged}.{sig}")


def test_wrong_audience_issuer_and_missing_claims() -> None:
    issuer, _ = _pair()
    token = issuer.issue(_dinas()).access_token
    assert "audience" in _refused(
        TokenVerifier([issuer.public_key], issuer=ISS, audience="another-api"), token
    )
    assert "issuer" in _refused(
        TokenVerifier([issuer.public_key], issuer="https://evil", audience=AUD), token
    )
    verifier = TokenVerifier([issuer.public_key], issuer=ISS, audience=AUD)
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "c", "iat": now, "exp": now + 60, "jti": "j"}
    headers = {"kid": issuer.kid, "typ": "at+jwt"}
    no_kind = jwt.encode(claims, issuer.private_key, algorithm="EdDSA", headers=headers)
    assert "actor_kind" in _refused(verifier, no_kind)
    bad_actor = jwt.encode(
        claims | {"actor_kind": "dinas"}, issuer.private_key, algorithm="EdDSA", headers=headers
    )
    assert "invalid actor" in _refused(verifier, bad_actor)  # a Dinas without wilayah
    id_token = jwt.encode(
        claims | {"actor_kind": "ministry"},
        issuer.private_key,
        algorithm="EdDSA",
        headers={"kid": issuer.kid},
    )
    assert "typ" in _refused(verifier, id_token)
    unsigned = jwt.encode(
        claims | {"actor_kind": "ministry"}, None, algorithm="none", headers=headers
    )
    _refused(verifier, unsigned)
    _refused(verifier, "not-a-jwt")


def test_verifier_from_settings_uses_pem_list_and_private_key(tmp_path: Path) -> None:
    old, new = generate_private_key(), generate_private_key()
    from umkm_shared.auth.tokens import public_key_pem

    pems = (public_key_pem(old) + public_key_pem(new)).decode()
    settings = ServiceSettings(jwt_issuer=ISS, jwt_audience=AUD, jwt_public_keys=pems)
    verifier = verifier_from_settings(settings)
    assert verifier is not None and set(verifier.keys) == {key_id(old), key_id(new)}
    for key in (old, new):  # rotation: tokens from both keys verify
        token = TokenIssuer(key, issuer=ISS, audience=AUD).issue(_dinas()).access_token
        assert verifier.verify(token).wilayah == "32.73"
    only_private = ServiceSettings(
        jwt_issuer=ISS, jwt_audience=AUD, jwt_private_key=SecretStr(private_key_pem(new).decode())
    )
    assert set(verifier_from_settings(only_private).keys) == {key_id(new)}  # type: ignore[union-attr]
    assert verifier_from_settings(ServiceSettings()) is None


# ---------------------------------------------------------------------------------------------
# Client store and token endpoint (real PostgreSQL)
# ---------------------------------------------------------------------------------------------


def _run_op(fn: Callable[[Operations], None]) -> Callable[[sa.Connection], None]:
    def run(conn: sa.Connection) -> None:
        fn(Operations(MigrationContext.configure(conn)))

    return run


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(make_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[Database]:
    database = Database(await make_database("shared_auth"), pool_size=4)
    async with database.engine.begin() as conn:  # the migration helpers, as a service uses them
        await conn.run_sync(_run_op(create_auth_tables))
        await conn.run_sync(_run_op(drop_auth_tables))
        await conn.run_sync(_run_op(create_auth_tables))
    yield database
    await database.dispose()


async def _client(db: Database, **kw: Any) -> tuple[str, str]:
    async with db.transaction() as session:
        return await ClientStore(session).create_client(**kw)


async def test_client_store(db: Database) -> None:
    client_id, secret = await _client(
        db, name="Bank BRI", kind="bank", actor_id="bri", scopes=["financing:read financing:write"]
    )
    assert client_id.startswith("bank_") and secret.startswith("umkm_cs_")
    async with db.session() as session:
        store = ClientStore(session)
        row = (
            await session.execute(
                sa.text("select * from oauth_clients where client_id = :c"), {"c": client_id}
            )
        ).one()
        assert row.secret_hash.startswith("scrypt$") and secret not in row.secret_hash
        record = await store.authenticate(client_id, secret)
        assert record is not None and record.scopes == {"financing:read", "financing:write"}
        assert record.actor().actor_id == "bri"
        assert await store.authenticate(client_id, secret + "x") is None
        assert await store.authenticate("bank_unknown", secret) is None
        assert client_id in [c.client_id for c in await store.list_clients()]
    async with db.transaction() as session:
        assert await ClientStore(session).disable(client_id)
        assert not await ClientStore(session).disable(client_id)
    async with db.session() as session:
        assert await ClientStore(session).authenticate(client_id, secret) is None
        active = await ClientStore(session).list_clients(include_disabled=False)
        assert client_id not in [c.client_id for c in active]
    with pytest.raises(ValidationError):
        await _client(db, name="Dinas without region", kind="dinas")


async def test_wilayah_clause_in_sql(db: Database) -> None:
    codes = ["32", "32.73", "32.73.01.1001", "32.7", "32.730", "32.74.01", "33.01"]
    t = sa.table("w", sa.column("code", sa.Text))
    async with db.session() as session:
        await session.execute(sa.text("create temporary table w (code text)"))
        await session.execute(sa.insert(t), [{"code": c} for c in codes])
        for actor in (
            _dinas("32.73"),
            _dinas("32"),
            Actor(kind="ministry", client_id="m"),
            Actor(kind="anchor", client_id="a", actor_id="pertamina"),
        ):
            got = (
                await session.execute(sa.select(t.c.code).where(wilayah_clause(t.c.code, actor)))
            ).scalars()
            assert sorted(got) == sorted(c for c in codes if actor.can_access_wilayah(c))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(db: Database) -> FastAPI:
    key = generate_private_key()
    settings = ServiceSettings(
        service_name="auth-test",
        jwt_issuer=ISS,
        jwt_audience=AUD,
        jwt_private_key=SecretStr(private_key_pem(key).decode()),
    )

    async def store() -> AsyncIterator[ClientStore]:
        async with db.transaction() as session:
            yield ClientStore(session)

    r = APIRouter()

    @r.get("/v1/me")
    async def me(actor: AnyActor) -> dict[str, Any]:
        return actor.model_dump(mode="json")

    @r.get("/v1/ministry-only")
    async def ministry(actor: MinistryActor) -> dict[str, str]:
        return {"ok": actor.client_id}

    @r.get("/v1/regions/{code}")
    async def region(code: str, actor: DinasActor) -> dict[str, str]:
        if not actor.can_access_wilayah(code):
            raise Forbidden(detail=f"Region {code} is outside {actor.wilayah}.")
        return {"code": code}

    @r.post("/v1/registrations")
    async def register(actor: Writer) -> dict[str, str]:
        return {"by": actor.client_id}

    return create_service_app(
        title="auth test", settings=settings, routers=[token_router(store), r]
    )


@pytest_asyncio.fixture(loop_scope="session")
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def _token(
    http: httpx.AsyncClient, client_id: str, secret: str, scope: str | None = None
) -> str:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope:
        data["scope"] = scope
    resp = await http.post("/v1/oauth/token", data=data)
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


async def test_token_endpoint_form_and_basic(db: Database, http: httpx.AsyncClient) -> None:
    cid, secret = await _client(
        db,
        name="Dinas KUKM Bandung",
        kind="dinas",
        wilayah="32.73",
        scopes=["registry:read", "registry:write"],
    )
    resp = await http.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"] == "registry:read registry:write"
    me = await http.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() | {"scopes": sorted(me.json()["scopes"])} == {
        "kind": "dinas",
        "client_id": cid,
        "actor_id": None,
        "wilayah": "32.73",
        "scopes": ["registry:read", "registry:write"],
    }

    resp = await http.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "registry:read"},
        auth=(cid, secret),
    )
    assert resp.status_code == 200 and resp.json()["scope"] == "registry:read"


async def test_token_endpoint_errors(db: Database, http: httpx.AsyncClient) -> None:
    cid, secret = await _client(
        db, name="Koperasi", kind="koperasi", actor_id="kop-1", scopes=["a:read"]
    )
    grant = {"grant_type": "client_credentials"}

    async def oauth_error(status: int, error: str, **kw: Any) -> httpx.Response:
        resp = await http.post("/v1/oauth/token", **kw)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["error"] == error
        assert resp.headers["cache-control"] == "no-store"
        return resp

    resp = await oauth_error(401, "invalid_client", data=grant, auth=(cid, "wrong"))
    assert resp.headers["www-authenticate"].startswith("Basic")
    await oauth_error(401, "invalid_client", data=grant | {"client_id": cid, "client_secret": "x"})
    await oauth_error(
        401, "invalid_client", data=grant | {"client_id": "nobody", "client_secret": secret}
    )
    await oauth_error(401, "invalid_client", data=grant)
    await oauth_error(
        400, "invalid_scope", data=grant | {"scope": "a:read b:write"}, auth=(cid, secret)
    )
    await oauth_error(
        400, "unsupported_grant_type", data={"grant_type": "password"}, auth=(cid, secret)
    )
    await oauth_error(400, "invalid_request", data={}, auth=(cid, secret))
    await oauth_error(
        400, "invalid_request", data=grant | {"client_secret": secret}, auth=(cid, secret)
    )
    await oauth_error(400, "invalid_request", json=grant, auth=(cid, secret))
    async with db.transaction() as session:
        await ClientStore(session).disable(cid)
    await oauth_error(401, "invalid_client", data=grant, auth=(cid, secret))


async def test_dependencies_401_and_403_problems(db: Database, http: httpx.AsyncClient) -> None:
    resp = await http.get("/v1/me")
    assert resp.status_code == 401 and resp.headers["content-type"] == PROBLEM
    assert resp.headers["www-authenticate"] == 'Bearer realm="umkm"'
    assert resp.json()["type"] == "https://umkm.go.id/problems/unauthorized"

    resp = await http.get("/v1/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["www-authenticate"]

    cid, secret = await _client(
        db, name="Dinas", kind="dinas", wilayah="32.73", scopes=["registry:read"]
    )
    auth = {"Authorization": f"Bearer {await _token(http, cid, secret)}"}

    resp = await http.get("/v1/ministry-only", headers=auth)
    assert resp.status_code == 403 and resp.headers["content-type"] == PROBLEM
    assert resp.json()["required_actor_kinds"] == ["ministry"]
    assert "ministry" in resp.json()["detail"]

    resp = await http.post("/v1/registrations", headers=auth)
    assert resp.status_code == 403
    assert resp.json()["required_scopes"] == ["registry:write"]
    assert 'error="insufficient_scope", scope="registry:write"' in resp.headers["www-authenticate"]

    assert (await http.get("/v1/regions/32.73.01.1001", headers=auth)).status_code == 200
    assert (await http.get("/v1/regions/32.74.01", headers=auth)).status_code == 403

    mid, msecret = await _client(db, name="Kementerian", kind="ministry", scopes=["registry:write"])
    mauth = {"Authorization": f"Bearer {await _token(http, mid, msecret)}"}
    assert (await http.get("/v1/ministry-only", headers=mauth)).status_code == 200
    assert (await http.post("/v1/registrations", headers=mauth)).json() == {"by": mid}


async def test_unconfigured_verifier_is_503() -> None:
    r = APIRouter()

    @r.get("/v1/me")
    async def me(actor: AnyActor) -> dict[str, str]:
        return {}

    app = create_service_app(title="no auth", settings=ServiceSettings(), routers=[r])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        resp = await c.get("/v1/me", headers={"Authorization": "Bearer x"})
    assert resp.status_code == 503 and resp.headers["content-type"] == PROBLEM


async def test_cli(db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["generate-keys", "--out-dir", str(tmp_path)]) == 0
    kid = capsys.readouterr().out.split()[1]
    (public,) = load_public_keys((tmp_path / "jwt-public.pem").read_text())
    assert key_id(public) == kid
    issuer = TokenIssuer((tmp_path / "jwt-private.pem").read_bytes(), issuer=ISS, audience=AUD)
    assert issuer.kid == kid
    assert (tmp_path / "jwt-private.pem").stat().st_mode & 0o077 == 0

    url = db.url
    run = lambda *argv: asyncio.to_thread(cli.main, list(argv))  # noqa: E731
    assert (
        await run(
            "create-client",
            "--database-url",
            url,
            "--name",
            "Dinas KUKM Kota Bandung",
            "--actor",
            "dinas",
            "--wilayah",
            "32.73",
            "--scopes",
            "registry:read registry:write",
        )
        == 0
    )
    out = capsys.readouterr().out
    client_id = out.split("client_id:")[1].split()[0]
    secret = out.split("client_secret:")[1].split()[0]
    async with db.session() as session:
        record = await ClientStore(session).authenticate(client_id, secret)
    assert record is not None and record.wilayah == "32.73"

    assert await run("list-clients", "--database-url", url) == 0
    assert client_id in capsys.readouterr().out
    assert await run("disable-client", "--database-url", url, client_id) == 0
    assert await run("disable-client", "--database-url", url, client_id) == 1
    assert await run("create-client", "--database-url", url, "--name", "x", "--actor", "bank") == 2
