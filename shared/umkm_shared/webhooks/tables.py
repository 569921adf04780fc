"""The webhook tables, defined once for every service that sends webhooks.

In the service's models (so Alembic autogenerate knows them):

    metadata = MetaData()
    webhook_tables = define_webhook_tables(metadata)

In a migration (the same definitions, nothing copied by hand):

    from umkm_shared.webhooks import create_webhook_tables, drop_webhook_tables
    def upgrade() -> None:
        create_webhook_tables(op)
    def downgrade() -> None:
        drop_webhook_tables(op)

- `webhook_endpoints`: one receiver URL of one owner (`owner_kind`, `owner_id`: e.g. an anchor
  or a bank). Secrets are stored sealed (see `umkm_shared.webhooks.secrets`), never returned
  except once at creation or rotation.
- `webhook_messages`: one row per (event, endpoint). `webhook_id` is the Standard Webhooks
  `webhook-id` header: the same on every attempt and replay, and the same for one event on every
  endpoint of its owner; `body` holds the exact bytes sent (serialised once, at enqueue).
  `status`: pending -> delivering -> delivered | failed (and back to pending on replay).
  `lease_token` / `locked_until`: the claim of one worker; an expired lease makes a message
  deliverable again (a crashed worker).
- `webhook_attempts`: one row per HTTP attempt (status, excerpt of the response, error, time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.schema import SchemaItem

__all__ = [
    "ATTEMPTS_TABLE",
    "ENDPOINTS_TABLE",
    "MESSAGES_TABLE",
    "WebhookTables",
    "create_webhook_tables",
    "define_webhook_tables",
    "drop_webhook_tables",
]

ENDPOINTS_TABLE = "webhook_endpoints"
MESSAGES_TABLE = "webhook_messages"
ATTEMPTS_TABLE = "webhook_attempts"

_IX_ENDPOINT_OWNER = "ix_webhook_endpoints_owner"
_IX_MESSAGES_DUE = "ix_webhook_messages_due"
_IX_MESSAGES_ORDER = "ix_webhook_messages_ordering"
_IX_MESSAGES_ENDPOINT = "ix_webhook_messages_endpoint"
_IX_ATTEMPTS_MESSAGE = "ix_webhook_attempts_message"
_UQ_MESSAGE = "uq_webhook_messages_endpoint_webhook_id"

OPEN_STATUSES = "status IN ('pending', 'delivering')"
_ORDERED_OPEN = "ordering_key IS NOT NULL AND status IN ('pending', 'delivering')"


@dataclass(frozen=True)
class WebhookTables:
    endpoints: Table
    messages: Table
    attempts: Table


def _fk(table: str, schema: str | None) -> str:
    return f"{schema}.{table}.id" if schema else f"{table}.id"


def _endpoint_columns() -> list[SchemaItem]:
    return [
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("owner_kind", Text, nullable=False, comment="e.g. anchor, bank"),
        Column("owner_id", Text, nullable=False),
        Column("url", Text, nullable=False),
        Column("description", Text, nullable=True),
        Column(
            "event_types",
            ARRAY(Text),
            nullable=True,
            comment="Event types sent to this endpoint; NULL means every type",
        ),
        Column("secret", Text, nullable=False, comment="Sealed current signing secret"),
        Column("previous_secret", Text, nullable=True, comment="Sealed secret before rotation"),
        Column("previous_secret_expires_at", DateTime(timezone=True), nullable=True),
        Column("status", Text, nullable=False, server_default=text("'active'")),
        Column("disabled_reason", Text, nullable=True),
        Column("disabled_at", DateTime(timezone=True), nullable=True),
        Column(
            "failing_since",
            DateTime(timezone=True),
            nullable=True,
            comment="Start of the current failure streak (NULL after a success)",
        ),
        Column("last_failure_at", DateTime(timezone=True), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _message_columns(schema: str | None) -> list[SchemaItem]:
    return [
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("webhook_id", Text, nullable=False, comment="The webhook-id header"),
        Column(
            "endpoint_id",
            Uuid(as_uuid=True),
            ForeignKey(_fk(ENDPOINTS_TABLE, schema), ondelete="CASCADE"),
            nullable=False,
        ),
        Column("owner_kind", Text, nullable=False),
        Column("owner_id", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("body", Text, nullable=False, comment="The exact JSON body sent"),
        Column("ordering_key", Text, nullable=True),
        Column("status", Text, nullable=False, server_default=text("'pending'")),
        Column(
            "attempts",
            Integer,
            nullable=False,
            server_default=text("0"),
            comment="Attempts ever made (numbering of webhook_attempts)",
        ),
        Column(
            "round_attempts",
            Integer,
            nullable=False,
            server_default=text("0"),
            comment="Attempts since creation or the last replay (position in the schedule)",
        ),
        Column(
            "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()
        ),
        Column("locked_until", DateTime(timezone=True), nullable=True),
        Column("lease_token", Uuid(as_uuid=True), nullable=True),
        Column("last_status", Integer, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("delivered_at", DateTime(timezone=True), nullable=True),
        Column("failed_at", DateTime(timezone=True), nullable=True),
        UniqueConstraint("endpoint_id", "webhook_id", name=_UQ_MESSAGE),
    ]


def _attempt_columns(schema: str | None) -> list[SchemaItem]:
    return [
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column(
            "message_id",
            Uuid(as_uuid=True),
            ForeignKey(_fk(MESSAGES_TABLE, schema), ondelete="CASCADE"),
            nullable=False,
        ),
        Column("attempt", Integer, nullable=False, comment="1, 2, ... per message"),
        Column("trigger", Text, nullable=False, server_default=text("'scheduled'")),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("duration_ms", Integer, nullable=False),
        Column("outcome", Text, nullable=False, comment="delivered, failed, gone, refused"),
        Column("response_status", Integer, nullable=True),
        Column("response_body", Text, nullable=True, comment="First 1 KB of the response"),
        Column("error", Text, nullable=True),
    ]


def define_webhook_tables(metadata: MetaData) -> WebhookTables:
    """Add the three webhook tables to a service's MetaData (its schema, if any)."""
    schema = metadata.schema
    endpoints = Table(ENDPOINTS_TABLE, metadata, *_endpoint_columns())
    Index(_IX_ENDPOINT_OWNER, endpoints.c.owner_kind, endpoints.c.owner_id)
    messages = Table(MESSAGES_TABLE, metadata, *_message_columns(schema))
    Index(_IX_MESSAGES_DUE, messages.c.next_attempt_at, postgresql_where=text(OPEN_STATUSES))
    Index(
        _IX_MESSAGES_ORDER,
        messages.c.endpoint_id,
        messages.c.ordering_key,
        messages.c.id,
        postgresql_where=text(_ORDERED_OPEN),
    )
    Index(_IX_MESSAGES_ENDPOINT, messages.c.endpoint_id, messages.c.id)
    attempts = Table(ATTEMPTS_TABLE, metadata, *_attempt_columns(schema))
    Index(_IX_ATTEMPTS_MESSAGE, attempts.c.message_id, attempts.c.attempt)
    return WebhookTables(endpoints=endpoints, messages=messages, attempts=attempts)


def create_webhook_tables(op: Any, schema: str | None = None) -> None:
    """Create the tables from an Alembic migration (`op` is `alembic.op`)."""
    op.create_table(ENDPOINTS_TABLE, *_endpoint_columns(), schema=schema)
    op.create_index(_IX_ENDPOINT_OWNER, ENDPOINTS_TABLE, ["owner_kind", "owner_id"], schema=schema)
    op.create_table(MESSAGES_TABLE, *_message_columns(schema), schema=schema)
    op.create_index(
        _IX_MESSAGES_DUE,
        MESSAGES_TABLE,
        ["next_attempt_at"],
        schema=schema,
        postgresql_where=text(OPEN_STATUSES),
    )
    op.create_index(
        _IX_MESSAGES_ORDER,
        MESSAGES_TABLE,
        ["endpoint_id", "ordering_key", "id"],
        schema=schema,
        postgresql_where=text(_ORDERED_OPEN),
    )
    op.create_index(_IX_MESSAGES_ENDPOINT, MESSAGES_TABLE, ["endpoint_id", "id"], schema=schema)
    op.create_table(ATTEMPTS_TABLE, *_attempt_columns(schema), schema=schema)
    op.create_index(_IX_ATTEMPTS_MESSAGE, ATTEMPTS_TABLE, ["message_id", "attempt"], schema=schema)


def drop_webhook_tables(op: Any, schema: str | None = None) -> None:
    """Drop the tables from an Alembic migration's downgrade."""
    op.drop_table(ATTEMPTS_TABLE, schema=schema)
    op.drop_table(MESSAGES_TABLE, schema=schema)
    op.drop_table(ENDPOINTS_TABLE, schema=schema)
