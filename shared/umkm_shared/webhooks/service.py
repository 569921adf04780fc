"""`Webhooks`: endpoints of owners, and the transactional enqueue of their messages.

Every method takes the caller's `AsyncSession` and never commits: the request or job that opened
the transaction commits once, so an event's webhook messages commit (or roll back) together with
the change they announce (a transactional outbox). Every endpoint and message query filters by
the owner (`owner_kind`, `owner_id`); another owner's id is simply not found (404), so ids
cannot be probed.

Disabled endpoints: an endpoint disabled by its owner, by a `410 Gone` answer or after failing
continuously (see `WebhookDeliveryWorker`) gets no attempts. Its pending messages are marked
`failed` (error "endpoint disabled: <reason>"), and events enqueued while it is disabled are
recorded as `failed` too, so nothing is silently dropped and nothing piles up unbounded: after
enabling it again, the owner replays what it missed with `replay_failed(since=...)`
(`POST /v1/webhook-endpoints/{id}/replay?since=`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import Row, and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.errors import Conflict, NotFound, invalid
from umkm_shared.ids import new_id
from umkm_shared.webhooks import metrics
from umkm_shared.webhooks.secrets import SecretBox, generate_secret
from umkm_shared.webhooks.ssrf import check_webhook_url
from umkm_shared.webhooks.tables import WebhookTables

__all__ = [
    "AttemptOut",
    "EndpointOut",
    "EndpointStatus",
    "MessageOut",
    "MessageStatus",
    "Webhooks",
    "disable",
    "notify_channel_for",
    "purge_finished",
    "serialise_body",
]

EndpointStatus = Literal["active", "disabled"]
MessageStatus = Literal["pending", "delivering", "delivered", "failed"]

SECRET_GRACE = timedelta(hours=24)
MAX_EVENT_TYPES = 100
MAX_BODY_BYTES = 256 * 1024  # receivers' body limits; send ids and let them fetch the rest
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces: a header value
_REPLAYABLE = ("failed", "delivered")


class EndpointOut(BaseModel):
    """A webhook endpoint. `secret` is set only in the answer to creation and rotation."""

    id: uuid.UUID
    owner_kind: str
    owner_id: str
    url: str = Field(examples=["https://erp.example.co.id/hooks/umkm"])
    description: str | None = None
    event_types: list[str] | None = Field(
        None,
        description="Event types sent to this endpoint; null for every type.",
        examples=[["purchase_order.created", "invoice.paid"]],
    )
    status: EndpointStatus
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = Field(
        None, description="Start of the current run of failed attempts; null when healthy."
    )
    previous_secret_expires_at: datetime | None = Field(
        None, description="After a rotation: until when the previous secret also signs."
    )
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(
        None,
        description="The signing secret (`whsec_...`): returned once, at creation or rotation.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class MessageOut(BaseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    endpoint_id: uuid.UUID
    event_type: str
    payload: dict[str, Any] = Field(description="The body sent: {type, timestamp, data}.")
    ordering_key: str | None = None
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None = Field(None, description="Set while pending.")
    last_status: int | None = Field(None, description="HTTP status of the last attempt.")
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    failed_at: datetime | None = None


class AttemptOut(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    attempt: int
    trigger: Literal["scheduled", "replay"]
    started_at: datetime
    duration_ms: int
    outcome: Literal["delivered", "failed", "gone", "refused"]
    response_status: int | None = None
    response_body: str | None = Field(None, description="The first 1 KB of the response.")
    error: str | None = None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # rates are Decimal: keep every digit
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def serialise_body(event_type: str, payload: Mapping[str, Any] | BaseModel, at: datetime) -> str:
    """The JSON body of a message, serialised once (retries send the same bytes)."""
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    timestamp = at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return orjson.dumps(
        {"type": event_type, "timestamp": timestamp, "data": data},
        default=_json_default,
        option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS,
    ).decode()


def notify_channel_for(tables: WebhookTables) -> str:
    """The LISTEN/NOTIFY channel of one set of webhook tables (per schema)."""
    schema = re.sub(r"[^a-z0-9_]+", "_", (tables.messages.schema or "public").lower())
    return f"umkm_webhooks_{schema}"[:63]


def _check_event_types(event_types: Sequence[str] | None, field: str) -> list[str] | None:
    if event_types is None:
        return None
    values = list(dict.fromkeys(event_types))
    if not values:
        raise invalid(field, "give at least one event type, or null for every type")
    if len(values) > MAX_EVENT_TYPES:
        raise invalid(field, f"at most {MAX_EVENT_TYPES} event types")
    for value in values:
        if not _EVENT_TYPE.match(value):
            raise invalid(field, f"{value!r} is not an event type name", value)
    return values


class Webhooks:
    """Endpoints and messages of one service's webhook tables.

    `allow_private_targets`: test mode only (http and internal addresses allowed).
    `secret_key`: 32 bytes to seal stored secrets with AES-256-GCM (recommended in production).
    """

    def __init__(
        self,
        tables: WebhookTables,
        allow_private_targets: bool = False,
        *,
        secret_key: bytes | None = None,
        secret_grace: timedelta = SECRET_GRACE,
        max_endpoints_per_owner: int = 20,
    ) -> None:
        self.tables = tables
        self.allow_private_targets = allow_private_targets
        self.box = SecretBox(secret_key)
        self.secret_grace = secret_grace
        self.max_endpoints_per_owner = max_endpoints_per_owner
        self.notify_channel = notify_channel_for(tables)

    async def notify(self, session: AsyncSession) -> None:
        """Wake the delivery workers when the session's transaction commits."""
        await session.execute(select(func.pg_notify(self.notify_channel, "")))

    # -- endpoints ----------------------------------------------------------------------------

    def _endpoint_out(self, row: Row[Any], secret: str | None = None) -> EndpointOut:
        m = row._mapping
        return EndpointOut(
            id=m["id"],
            owner_kind=m["owner_kind"],
            owner_id=m["owner_id"],
            url=m["url"],
            description=m["description"],
            event_types=m["event_types"],
            status=m["status"],
            disabled_reason=m["disabled_reason"],
            disabled_at=m["disabled_at"],
            failing_since=m["failing_since"],
            previous_secret_expires_at=m["previous_secret_expires_at"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            secret=secret,
        )

    def _owned(self, owner_kind: str, owner_id: str, endpoint_id: uuid.UUID) -> Any:
        ep = self.tables.endpoints
        return and_(
            ep.c.id == endpoint_id, ep.c.owner_kind == owner_kind, ep.c.owner_id == owner_id
        )

    async def _get_row(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        endpoint_id: uuid.UUID,
        *,
        lock: bool = False,
    ) -> Row[Any]:
        query = select(self.tables.endpoints).where(self._owned(owner_kind, owner_id, endpoint_id))
        if lock:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        if row is None:
            raise NotFound(detail=f"No webhook endpoint {endpoint_id}.")
        return row

    async def register_endpoint(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        url: str,
        event_types: list[str] | None = None,
        description: str | None = None,
        *,
        field_prefix: str = "",
    ) -> EndpointOut:
        """Add an endpoint; the answer carries its secret (the only time it is shown).
        `UnsafeWebhookUrl` (422 naming `<field_prefix>url`) for a URL we may not call."""
        url = await check_webhook_url(url, self.allow_private_targets, field=f"{field_prefix}url")
        types = _check_event_types(event_types, f"{field_prefix}event_types")
        ep = self.tables.endpoints
        count = await session.scalar(
            select(func.count())
            .select_from(ep)
            .where(ep.c.owner_kind == owner_kind, ep.c.owner_id == owner_id)
        )
        if (count or 0) >= self.max_endpoints_per_owner:
            raise Conflict(
                detail=f"At most {self.max_endpoints_per_owner} webhook endpoints per owner."
            )
        secret = generate_secret()
        row = (
            await session.execute(
                insert(ep)
                .values(
                    id=new_id(),
                    owner_kind=owner_kind,
                    owner_id=owner_id,
                    url=url,
                    description=description,
                    event_types=types,
                    secret=self.box.seal(secret),
                    status="active",
                )
                .returning(*ep.c)
            )
        ).one()
        return self._endpoint_out(row, secret)

    async def list_endpoints(
        self, session: AsyncSession, owner_kind: str, owner_id: str
    ) -> list[EndpointOut]:
        ep = self.tables.endpoints
        rows = await session.execute(
            select(ep)
            .where(ep.c.owner_kind == owner_kind, ep.c.owner_id == owner_id)
            .order_by(ep.c.id)
        )
        return [self._endpoint_out(r) for r in rows]

    async def get_endpoint(
        self, session: AsyncSession, owner_kind: str, owner_id: str, endpoint_id: uuid.UUID
    ) -> EndpointOut:
        return self._endpoint_out(await self._get_row(session, owner_kind, owner_id, endpoint_id))

    async def update_endpoint(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        endpoint_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        field_prefix: str = "",
    ) -> EndpointOut:
        """Change `url`, `event_types` (None: every type) and/or `description` (the keys
        present in `changes`). A new URL passes the SSRF check."""
        unknown = set(changes) - {"url", "event_types", "description"}
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        await self._get_row(session, owner_kind, owner_id, endpoint_id, lock=True)
        values: dict[str, Any] = {}
        if "url" in changes:
            if changes["url"] is None:
                raise invalid(f"{field_prefix}url", "the URL cannot be null")
            values["url"] = await check_webhook_url(
                str(changes["url"]), self.allow_private_targets, field=f"{field_prefix}url"
            )
        if "event_types" in changes:
            values["event_types"] = _check_event_types(
                changes["event_types"], f"{field_prefix}event_types"
            )
        if "description" in changes:
            values["description"] = changes["description"]
        if values:
            values["updated_at"] = func.now()
            await session.execute(
                update(self.tables.endpoints)
                .where(self.tables.endpoints.c.id == endpoint_id)
                .values(**values)
            )
        return await self.get_endpoint(session, owner_kind, owner_id, endpoint_id)

    async def rotate_secret(
        self, session: AsyncSession, owner_kind: str, owner_id: str, endpoint_id: uuid.UUID
    ) -> EndpointOut:
        """A new secret (returned once). The current one becomes the previous secret and keeps
        signing too (a second `v1,` signature) for `secret_grace` (24 h); a secret older than
        that is dropped, so rotating twice within the grace period ends the first one's grace."""
        row = await self._get_row(session, owner_kind, owner_id, endpoint_id, lock=True)
        secret = generate_secret()
        ep = self.tables.endpoints
        updated = (
            await session.execute(
                update(ep)
                .where(ep.c.id == endpoint_id)
                .values(
                    secret=self.box.seal(secret),
                    previous_secret=row._mapping["secret"],
                    previous_secret_expires_at=func.now() + self.secret_grace,
                    updated_at=func.now(),
                )
                .returning(*ep.c)
            )
        ).one()
        return self._endpoint_out(updated, secret)

    async def disable_endpoint(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        endpoint_id: uuid.UUID,
        reason: str = "disabled by its owner",
    ) -> EndpointOut:
        """No more attempts; its pending messages become failed (replayable later)."""
        await self._get_row(session, owner_kind, owner_id, endpoint_id, lock=True)
        if await disable(session, self.tables, endpoint_id, reason):
            metrics.WEBHOOK_ENDPOINTS_DISABLED.labels(reason="owner").inc()
        return await self.get_endpoint(session, owner_kind, owner_id, endpoint_id)

    async def enable_endpoint(
        self, session: AsyncSession, owner_kind: str, owner_id: str, endpoint_id: uuid.UUID
    ) -> EndpointOut:
        """Attempts resume for new messages; replay what failed meanwhile with `replay_failed`.
        The URL is checked again (it may resolve elsewhere by now)."""
        row = await self._get_row(session, owner_kind, owner_id, endpoint_id, lock=True)
        await check_webhook_url(row._mapping["url"], self.allow_private_targets)
        ep = self.tables.endpoints
        await session.execute(
            update(ep)
            .where(ep.c.id == endpoint_id, ep.c.status == "disabled")
            .values(
                status="active",
                disabled_reason=None,
                disabled_at=None,
                failing_since=None,
                last_failure_at=None,
                updated_at=func.now(),
            )
        )
        return await self.get_endpoint(session, owner_kind, owner_id, endpoint_id)

    async def delete_endpoint(
        self, session: AsyncSession, owner_kind: str, owner_id: str, endpoint_id: uuid.UUID
    ) -> None:
        """Delete the endpoint with its messages and attempt log."""
        result = await session.execute(
            delete(self.tables.endpoints).where(self._owned(owner_kind, owner_id, endpoint_id))
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(detail=f"No webhook endpoint {endpoint_id}.")

    # -- messages -----------------------------------------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        event_type: str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        ordering_key: str | None = None,
        message_id: str | None = None,
    ) -> list[uuid.UUID]:
        """Queue `event_type` for every endpoint of the owner subscribed to it, in the
        session's transaction; returns the message row ids (one per endpoint, [] when the owner
        has no such endpoint).

        `message_id` becomes the `webhook-id` (default `msg_<uuid7>`), the same on every
        endpoint; enqueueing the same `message_id` again is a no-op returning the same ids, so
        a retried job cannot send an event twice. `ordering_key` (e.g. the purchase order id):
        messages with one key go to an endpoint strictly one at a time in enqueue order.
        """
        if not _EVENT_TYPE.match(event_type):
            raise ValueError(f"{event_type!r} is not an event type name")
        if message_id is not None and not _MESSAGE_ID.match(message_id):
            raise ValueError("message_id must be 1-255 printable ASCII characters, no spaces")
        ep, msg = self.tables.endpoints, self.tables.messages
        endpoints = (
            await session.execute(
                select(ep.c.id, ep.c.status).where(
                    ep.c.owner_kind == owner_kind,
                    ep.c.owner_id == owner_id,
                    or_(
                        ep.c.event_types.is_(None),
                        literal(event_type) == func.any(ep.c.event_types),
                    ),
                )
            )
        ).all()
        if not endpoints:
            return []
        webhook_id = message_id or f"msg_{new_id().hex}"
        body = serialise_body(event_type, payload, datetime.now(UTC))
        if len(body) > MAX_BODY_BYTES:
            raise ValueError(f"a webhook body is limited to {MAX_BODY_BYTES} bytes")
        rows = []
        for endpoint_id, status in endpoints:
            row: dict[str, Any] = {
                "id": new_id(),
                "webhook_id": webhook_id,
                "endpoint_id": endpoint_id,
                "owner_kind": owner_kind,
                "owner_id": owner_id,
                "event_type": event_type,
                "body": body,
                "ordering_key": ordering_key,
                "status": "pending",
                "last_error": None,
                "failed_at": None,
            }
            if status != "active":
                row.update(status="failed", last_error="endpoint disabled", failed_at=func.now())
            rows.append(row)
        stmt = (
            pg_insert(msg)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[msg.c.endpoint_id, msg.c.webhook_id])
        )
        await session.execute(stmt)
        # pg_notify is delivered on commit only (repeats within a transaction fold into one):
        # the workers wake at once instead of at their next poll.
        rows_out = await session.execute(
            select(msg.c.id, func.pg_notify(self.notify_channel, ""))
            .where(
                msg.c.webhook_id == webhook_id,
                msg.c.endpoint_id.in_([e[0] for e in endpoints]),
            )
            .order_by(msg.c.id)
        )
        return [r[0] for r in rows_out]

    def _message_out(self, row: Row[Any]) -> MessageOut:
        m = row._mapping
        return MessageOut(
            id=m["id"],
            webhook_id=m["webhook_id"],
            endpoint_id=m["endpoint_id"],
            event_type=m["event_type"],
            payload=orjson.loads(m["body"]),
            ordering_key=m["ordering_key"],
            status=m["status"],
            attempts=m["attempts"],
            next_attempt_at=m["next_attempt_at"] if m["status"] == "pending" else None,
            last_status=m["last_status"],
            last_error=m["last_error"],
            created_at=m["created_at"],
            delivered_at=m["delivered_at"],
            failed_at=m["failed_at"],
        )

    async def list_messages(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        endpoint_id: uuid.UUID,
        *,
        status: MessageStatus | None = None,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> list[MessageOut]:
        """The endpoint's messages, newest first; `before`: the last id of the previous page."""
        await self._get_row(session, owner_kind, owner_id, endpoint_id)
        msg = self.tables.messages
        query = select(msg).where(msg.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(msg.c.status == status)
        if before is not None:
            query = query.where(msg.c.id < before)
        rows = await session.execute(query.order_by(msg.c.id.desc()).limit(limit))
        return [self._message_out(r) for r in rows]

    async def _message_row(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        message_id: uuid.UUID,
        *,
        lock: bool = False,
    ) -> Row[Any]:
        msg = self.tables.messages
        query = select(msg).where(
            msg.c.id == message_id, msg.c.owner_kind == owner_kind, msg.c.owner_id == owner_id
        )
        if lock:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        if row is None:
            raise NotFound(detail=f"No webhook message {message_id}.")
        return row

    async def get_message(
        self, session: AsyncSession, owner_kind: str, owner_id: str, message_id: uuid.UUID
    ) -> MessageOut:
        return self._message_out(await self._message_row(session, owner_kind, owner_id, message_id))

    async def list_attempts(
        self, session: AsyncSession, owner_kind: str, owner_id: str, message_id: uuid.UUID
    ) -> list[AttemptOut]:
        """Every attempt of one message, oldest first."""
        await self._message_row(session, owner_kind, owner_id, message_id)
        att = self.tables.attempts
        rows = await session.execute(
            select(att).where(att.c.message_id == message_id).order_by(att.c.attempt, att.c.id)
        )
        return [AttemptOut.model_validate(dict(r._mapping)) for r in rows]

    async def replay_message(
        self, session: AsyncSession, owner_kind: str, owner_id: str, message_id: uuid.UUID
    ) -> MessageOut:
        """Send a failed or delivered message again, with the same `webhook-id` and body (a
        replay is the same event: a receiver that already has it drops it) and a fresh retry
        schedule. A message still pending or in delivery is a 409."""
        row = await self._message_row(session, owner_kind, owner_id, message_id, lock=True)
        if row._mapping["status"] not in _REPLAYABLE:
            raise Conflict(
                detail=f"The message is {row._mapping['status']}; only failed or delivered "
                "messages can be replayed.",
                extra={"allowed": list(_REPLAYABLE)},
            )
        await session.execute(_requeue(self.tables).where(self.tables.messages.c.id == message_id))
        await self.notify(session)
        return await self.get_message(session, owner_kind, owner_id, message_id)

    async def replay_failed(
        self,
        session: AsyncSession,
        owner_kind: str,
        owner_id: str,
        endpoint_id: uuid.UUID,
        since: datetime,
    ) -> int:
        """Queue again every failed message of the endpoint created at or after `since`;
        returns how many. They are sent in creation order per ordering key."""
        if since.tzinfo is None:
            raise invalid("query.since", "give a time zone (e.g. 2026-11-27T00:00:00Z)")
        await self._get_row(session, owner_kind, owner_id, endpoint_id)
        msg = self.tables.messages
        result = await session.execute(
            _requeue(self.tables).where(
                msg.c.endpoint_id == endpoint_id,
                msg.c.status == "failed",
                msg.c.created_at >= since,
            )
        )
        await self.notify(session)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _requeue(tables: WebhookTables) -> Any:
    return update(tables.messages).values(
        status="pending",
        round_attempts=0,
        next_attempt_at=func.now(),
        locked_until=None,
        lease_token=None,
        delivered_at=None,
        failed_at=None,
    )


async def disable(
    session: AsyncSession, tables: WebhookTables, endpoint_id: uuid.UUID, reason: str
) -> bool:
    """Disable an active endpoint and fail its pending messages; False if it was not active."""
    ep, msg = tables.endpoints, tables.messages
    result = await session.execute(
        update(ep)
        .where(ep.c.id == endpoint_id, ep.c.status == "active")
        .values(
            status="disabled",
            disabled_reason=reason,
            disabled_at=func.now(),
            updated_at=func.now(),
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(msg)
        .where(msg.c.endpoint_id == endpoint_id, msg.c.status == "pending")
        .values(status="failed", failed_at=func.now(), last_error=f"endpoint disabled: {reason}")
    )
    return True


async def purge_finished(
    session: AsyncSession, tables: WebhookTables, older_than: timedelta
) -> int:
    """Delete delivered and failed messages (with their attempts) created more than
    `older_than` ago (housekeeping job; keep at least the replay window you promise, e.g. 30
    days)."""
    msg = tables.messages
    cutoff = datetime.now(UTC) - older_than
    result = await session.execute(
        delete(msg).where(msg.c.status.in_(("delivered", "failed")), msg.c.created_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
