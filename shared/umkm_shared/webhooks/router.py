"""The HTTP API with which an owner (an anchor, a bank) manages its webhook endpoints.

    router = webhook_router(webhooks, owner_dependency)   # owner_dependency -> (kind, id)
    app, runtime = build_service(..., routers=[..., router])

Every route resolves the caller's owner first; an id of another owner's endpoint or message is a
404 (never a 403), so ids cannot be probed. Errors are problem+json (`umkm_shared.errors`).
"""

# No `from __future__ import annotations` here: FastAPI resolves the routes' annotations, and
# the owner dependency is a local of `webhook_router`.

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from umkm_shared.db import Database
from umkm_shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor
from umkm_shared.web import problem_responses
from umkm_shared.webhooks.service import (
    AttemptOut,
    EndpointOut,
    MessageOut,
    MessageStatus,
    Webhooks,
)

__all__ = [
    "EndpointCreate",
    "EndpointPatch",
    "ReplayResult",
    "webhook_router",
]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2048,
        description="An https URL on the public internet.",
        examples=["https://erp.example.co.id/hooks/umkm"],
    )
    event_types: list[str] | None = Field(
        None,
        description="Event types to receive; omit or null for every type.",
        examples=[["purchase_order.created"]],
    )
    description: str | None = Field(None, max_length=500)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2048)
    event_types: list[str] | None = Field(None, description="null: every type.")
    description: str | None = Field(None, max_length=500)
    status: Literal["active", "disabled"] | None = Field(
        None,
        description="`disabled` stops deliveries (pending messages fail); `active` resumes "
        "them for new messages (replay what was missed with `.../replay?since=`).",
    )


class ReplayResult(BaseModel):
    replayed: int = Field(description="How many messages were queued again.")


class AttemptList(BaseModel):
    items: list[AttemptOut]


class EndpointList(BaseModel):
    items: list[EndpointOut]


class _MessageKey(BaseModel):
    id: uuid.UUID


OwnerDependency = Callable[..., Any]


def webhook_router(
    webhooks: Webhooks,
    owner_dependency: OwnerDependency,
    *,
    db: Database | None = None,
    prefix: str = "/v1",
    tags: list[str] | None = None,
    on_queued: Callable[[], None] | None = None,
) -> APIRouter:
    """The endpoints API. `owner_dependency` is a FastAPI dependency returning the caller's
    `(owner_kind, owner_id)`. `db`: the service's database (default:
    `request.app.state.runtime.db`, which `build_service` sets). `on_queued`: called after a
    replay commits (e.g. `worker.wake`)."""
    router = APIRouter(prefix=prefix, tags=list(tags or ["webhooks"]))

    def database_dep(request: Request) -> Database:
        database: Database = db if db is not None else request.app.state.runtime.db
        return database

    Owner = Annotated[tuple[str, str], Depends(owner_dependency)]
    Db = Annotated[Database, Depends(database_dep)]

    @router.post(
        "/webhook-endpoints",
        status_code=201,
        response_model=EndpointOut,
        summary="Register a webhook endpoint",
        responses=problem_responses(400, 401, 403, 409, 422),
    )
    async def create_endpoint(body: EndpointCreate, owner: Owner, database: Db) -> EndpointOut:
        """The answer carries the signing secret (`whsec_...`): store it, it is not shown
        again (rotate it to get a new one)."""
        async with database.transaction() as session:
            return await webhooks.register_endpoint(
                session, *owner, body.url, body.event_types, body.description, field_prefix="body."
            )

    @router.get(
        "/webhook-endpoints",
        response_model=EndpointList,
        summary="List your webhook endpoints",
        responses=problem_responses(401, 403),
    )
    async def list_endpoints(owner: Owner, database: Db) -> EndpointList:
        async with database.transaction() as session:
            return EndpointList(items=await webhooks.list_endpoints(session, *owner))

    @router.get(
        "/webhook-endpoints/{endpoint_id}",
        response_model=EndpointOut,
        responses=problem_responses(401, 403, 404),
    )
    async def get_endpoint(endpoint_id: uuid.UUID, owner: Owner, database: Db) -> EndpointOut:
        async with database.transaction() as session:
            return await webhooks.get_endpoint(session, *owner, endpoint_id)

    @router.patch(
        "/webhook-endpoints/{endpoint_id}",
        response_model=EndpointOut,
        summary="Change an endpoint's URL, event types or description, or disable/enable it",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def patch_endpoint(
        endpoint_id: uuid.UUID, body: EndpointPatch, owner: Owner, database: Db
    ) -> EndpointOut:
        changes: dict[str, Any] = {
            k: getattr(body, k)
            for k in ("url", "event_types", "description")
            if k in body.model_fields_set
        }
        async with database.transaction() as session:
            out = await webhooks.update_endpoint(
                session, *owner, endpoint_id, changes, field_prefix="body."
            )
            if body.status == "disabled" and out.status == "active":
                out = await webhooks.disable_endpoint(session, *owner, endpoint_id)
            elif body.status == "active" and out.status == "disabled":
                out = await webhooks.enable_endpoint(session, *owner, endpoint_id)
        if body.status == "active" and on_queued is not None:
            on_queued()
        return out

    @router.delete(
        "/webhook-endpoints/{endpoint_id}",
        status_code=204,
        response_class=Response,
        summary="Delete an endpoint with its messages and attempt log",
        responses=problem_responses(401, 403, 404),
    )
    async def delete_endpoint(endpoint_id: uuid.UUID, owner: Owner, database: Db) -> Response:
        async with database.transaction() as session:
            await webhooks.delete_endpoint(session, *owner, endpoint_id)
        return Response(status_code=204)

    @router.post(
        "/webhook-endpoints/{endpoint_id}/rotate-secret",
        response_model=EndpointOut,
        summary="Rotate the signing secret",
        responses=problem_responses(401, 403, 404),
    )
    async def rotate_secret(endpoint_id: uuid.UUID, owner: Owner, database: Db) -> EndpointOut:
        """Returns the new secret once. For 24 hours each delivery carries two signatures (the
        new secret's and the previous one's), so receivers can switch without losing events."""
        async with database.transaction() as session:
            return await webhooks.rotate_secret(session, *owner, endpoint_id)

    @router.get(
        "/webhook-endpoints/{endpoint_id}/messages",
        response_model=Page[MessageOut],
        summary="Messages of an endpoint, newest first",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def list_messages(
        endpoint_id: uuid.UUID,
        owner: Owner,
        database: Db,
        status: Annotated[MessageStatus | None, Query(description="Only this status.")] = None,
        limit: LimitQuery = 50,
        cursor: CursorQuery = None,
    ) -> Page[MessageOut]:
        after = decode_cursor(cursor, _MessageKey)
        async with database.transaction() as session:
            rows = await webhooks.list_messages(
                session,
                *owner,
                endpoint_id,
                status=status,
                before=after.id if after else None,
                limit=limit + 1,
            )
        items = rows[:limit]
        next_cursor = encode_cursor({"id": str(items[-1].id)}) if len(rows) > limit else None
        return Page[MessageOut](items=items, next_cursor=next_cursor)

    @router.post(
        "/webhook-endpoints/{endpoint_id}/replay",
        status_code=202,
        response_model=ReplayResult,
        summary="Send again every failed message created since a time",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def replay_failed(
        endpoint_id: uuid.UUID,
        owner: Owner,
        database: Db,
        since: Annotated[
            datetime, Query(description="RFC 3339 time with offset, e.g. 2026-11-27T00:00:00Z")
        ],
    ) -> ReplayResult:
        async with database.transaction() as session:
            n = await webhooks.replay_failed(session, *owner, endpoint_id, since)
        if on_queued is not None:
            on_queued()
        return ReplayResult(replayed=n)

    @router.get(
        "/webhook-messages/{message_id}",
        response_model=MessageOut,
        responses=problem_responses(401, 403, 404),
    )
    async def get_message(message_id: uuid.UUID, owner: Owner, database: Db) -> MessageOut:
        async with database.transaction() as session:
            return await webhooks.get_message(session, *owner, message_id)

    @router.get(
        "/webhook-messages/{message_id}/attempts",
        response_model=AttemptList,
        summary="Every delivery attempt of a message",
        responses=problem_responses(401, 403, 404),
    )
    async def list_attempts(message_id: uuid.UUID, owner: Owner, database: Db) -> AttemptList:
        async with database.transaction() as session:
            return AttemptList(items=await webhooks.list_attempts(session, *owner, message_id))

    @router.post(
        "/webhook-messages/{message_id}/replay",
        status_code=202,
        response_model=MessageOut,
        summary="Send a failed or delivered message again (same webhook-id)",
        responses=problem_responses(401, 403, 404, 409),
    )
    async def replay_message(message_id: uuid.UUID, owner: Owner, database: Db) -> MessageOut:
        async with database.transaction() as session:
            out = await webhooks.replay_message(session, *owner, message_id)
        if on_queued is not None:
            on_queued()
        return out

    return router
