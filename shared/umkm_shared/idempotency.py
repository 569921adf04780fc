"""`Idempotency-Key` for unsafe partner calls (IETF draft-ietf-httpapi-idempotency-key-header).

- first request with key K (per client): runs, and its response is stored with a fingerprint
  of the request (sha256 over method, path and query, body);
- the same key and the same request again: the stored response, with `Idempotent-Replayed: true`;
- the same key with another request: 422; while the first is still running: 409;
- keys live 24 h; longer than 255 characters: 422; missing where required: 400.

Concurrency and atomicity: `Idempotency.run` works inside the endpoint's own transaction. It
takes a transaction-scoped advisory lock on (client, key) with `pg_try_advisory_xact_lock`
(held: 409 at once instead of waiting), looks the key up, runs the handler, and inserts the
record in that same transaction, so the business write and the record commit or roll back
together; the primary key (client_id, key) is the last guard. A failing handler stores nothing
and the client may retry with the same key.

    @router.post("/v1/applications", status_code=201, response_model=ApplicationOut)
    async def submit(body: ApplicationIn, actor: BankActor, idem: IdempotencyDep,
                     session: SessionDep) -> Response:
        return await idem.run(session, actor.client_id,
                              lambda: service.submit(session, actor, body), status_code=201)
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.errors import BadRequest, Conflict, FieldError, ValidationFailed, invalid

TABLE = "idempotency_keys"
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
DEFAULT_TTL = timedelta(hours=24)
_FIELD = "header.Idempotency-Key"
_KEPT_HEADERS = ("content-type", "location", "content-location", "etag", "last-modified")


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("client_id", sa.Text, primary_key=True),
        sa.Column("key", sa.String(MAX_KEY_LENGTH), primary_key=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("response_status", sa.Integer, nullable=False),
        sa.Column("response_headers", JSONB, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    ]


def define_idempotency_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE, metadata, *_columns(), sa.Index("ix_idempotency_keys_expires_at", "expires_at")
    )


def create_idempotency_table(op: Any) -> None:
    """For a service's Alembic migration `upgrade()`."""
    op.create_table(TABLE, *_columns())
    op.create_index("ix_idempotency_keys_expires_at", TABLE, ["expires_at"])


def drop_idempotency_table(op: Any) -> None:
    op.drop_table(TABLE)


_t = define_idempotency_table(sa.MetaData())


@dataclass
class IdempotencyInProgress(Conflict):
    """409 while the first request with the key has not finished."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def to_response(self, *, replayed: bool = False) -> Response:
        headers = dict(self.headers)
        if replayed:
            headers[REPLAYED_HEADER] = "true"
        media_type = headers.pop("content-type", None)
        return Response(self.body, status_code=self.status, headers=headers, media_type=media_type)


def parse_key(value: str | None) -> str | None:
    """The key from the header; a Structured Field string (`"abc"`) or a bare token."""
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise invalid(_FIELD, "The Idempotency-Key must not be empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise invalid(_FIELD, f"The Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.")
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """sha256 over method, path (with query) and body; JSON bodies are canonicalised (key
    order and whitespace do not count)."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _lock_id(client_id: str, key: str) -> int:
    digest = hashlib.sha256(f"{client_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class IdempotencyStore:
    """Queries on `idempotency_keys` within the caller's session (never commits)."""

    def __init__(self, session: AsyncSession, ttl: timedelta = DEFAULT_TTL) -> None:
        self.session = session
        self.ttl = ttl

    async def try_lock(self, client_id: str, key: str) -> bool:
        result = await self.session.execute(
            sa.select(sa.func.pg_try_advisory_xact_lock(_lock_id(client_id, key)))
        )
        return bool(result.scalar_one())

    async def find(self, client_id: str, key: str) -> tuple[str, StoredResponse] | None:
        """(fingerprint, response) of an unexpired record; an expired one is deleted."""
        row = (
            await self.session.execute(
                sa.select(_t).where(_t.c.client_id == client_id, _t.c.key == key)
            )
        ).first()
        if row is None:
            return None
        if row.expires_at <= datetime.now(UTC):
            await self.session.execute(
                sa.delete(_t).where(_t.c.client_id == client_id, _t.c.key == key)
            )
            return None
        return row.fingerprint, StoredResponse(
            row.response_status, dict(row.response_headers), bytes(row.response_body)
        )

    async def save(
        self,
        client_id: str,
        key: str,
        *,
        method: str,
        path: str,
        fingerprint: str,
        response: StoredResponse,
    ) -> None:
        await self.session.execute(
            sa.insert(_t).values(
                client_id=client_id,
                key=key,
                method=method,
                path=path,
                fingerprint=fingerprint,
                response_status=response.status,
                response_headers=response.headers,
                response_body=response.body,
                expires_at=datetime.now(UTC) + self.ttl,
            )
        )

    async def purge_expired(self) -> int:
        result = await self.session.execute(sa.delete(_t).where(_t.c.expires_at <= sa.func.now()))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _to_stored(result: Any, status_code: int) -> StoredResponse:
    if isinstance(result, Response):
        if not hasattr(result, "body"):
            raise TypeError("idempotent handlers cannot return streaming responses")
        return StoredResponse(
            result.status_code, stored_headers(result.headers), bytes(result.body)
        )
    if isinstance(result, BaseModel):
        body = result.model_dump_json().encode()
    else:
        body = orjson.dumps(jsonable_encoder(result))
    return StoredResponse(status_code, {"content-type": "application/json"}, body)


@dataclass
class Idempotency:
    """What the `idempotency()` dependency gives an endpoint: the key and the request."""

    key: str | None
    request: Request
    ttl: timedelta = DEFAULT_TTL

    async def run(
        self,
        session: AsyncSession,
        client_id: str,
        handler: Callable[[], Awaitable[Any]],
        *,
        status_code: int = 200,
    ) -> Response:
        """Replay, refuse, or run `handler` (in `session`'s transaction) and remember its
        response. `handler` returns a model, plain data, or a (non-streaming) Response."""
        if self.key is None:
            return _to_stored(await handler(), status_code).to_response()
        req = self.request
        path = req.url.path + (f"?{req.url.query}" if req.url.query else "")
        fp = fingerprint(req.method, path, await req.body())
        store = IdempotencyStore(session, self.ttl)
        if not await store.try_lock(client_id, self.key):
            raise IdempotencyInProgress(
                detail="A request with this Idempotency-Key is still being processed."
            )
        found = await store.find(client_id, self.key)
        if found is not None:
            stored_fp, stored = found
            if stored_fp != fp:
                raise ValidationFailed(
                    detail="This Idempotency-Key was already used for a different request.",
                    errors=[FieldError(_FIELD, "already used with a different request")],
                )
            return stored.to_response(replayed=True)
        response = _to_stored(await handler(), status_code)
        await store.save(
            client_id, self.key, method=req.method, path=path, fingerprint=fp, response=response
        )
        return response.to_response()


def idempotency(required: bool = True, ttl: timedelta = DEFAULT_TTL) -> Callable[..., Idempotency]:
    """Dependency factory reading and validating the `Idempotency-Key` header."""

    def dependency(
        request: Request,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias=HEADER,
                description="Unique per client for 24 h (max 255 characters), e.g. a UUID. "
                "A retry with the same key and body replays the first response.",
            ),
        ] = None,
    ) -> Idempotency:
        key = parse_key(idempotency_key)
        if key is None and required:
            raise BadRequest(
                detail=f"The {HEADER} header is required for this operation.",
                errors=[FieldError(_FIELD, "Field required")],
            )
        return Idempotency(key=key, request=request, ttl=ttl)

    return dependency


IdempotencyDep = Annotated[Idempotency, Depends(idempotency())]
OptionalIdempotencyDep = Annotated[Idempotency, Depends(idempotency(required=False))]


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The subset of response headers kept for replay."""
    return {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
