"""The outbox and inbox tables, defined once for every service.

In the service's models (so Alembic autogenerate knows them):

    metadata = MetaData()
    messaging = define_messaging_tables(metadata)

In the service's first migration (the same definitions, so nothing is copied by hand):

    from umkm_shared.messaging.tables import create_messaging_tables, drop_messaging_tables
    def upgrade() -> None:
        create_messaging_tables(op)
    def downgrade() -> None:
        drop_messaging_tables(op)

The tables follow `metadata.schema` (or the `schema` argument of the migration helpers) for
services that live in a schema of a shared database.

Outbox: one row per event, written in the transaction of the change; `id` is the CloudEvent id
(UUIDv7, so ordering by id follows creation order); the relay publishes rows where
`published_at is null` (a partial index keeps that lookup small however large the table grows).

Inbox: one row per (consumer group, event id) applied, written in the transaction of the
event's effects, so a redelivered event is recognised and skipped. `outcome` is "applied" or
"skipped" (a type the consumer had no handler for): a skipped row does not block a later replay
once a handler exists (see `umkm_shared.messaging.consumer`). This column is an addition to the
first design, for exactly that replay case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import SchemaItem

__all__ = [
    "INBOX_TABLE",
    "OUTBOX_TABLE",
    "MessagingTables",
    "create_messaging_tables",
    "define_messaging_tables",
    "drop_messaging_tables",
]

OUTBOX_TABLE = "outbox"
INBOX_TABLE = "inbox"
OUTBOX_PENDING_INDEX = "ix_outbox_pending"
UNPUBLISHED = "published_at IS NULL"


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table


def _outbox_columns() -> list[SchemaItem]:
    return [
        Column("id", Uuid(as_uuid=True), primary_key=True, comment="CloudEvent id (UUIDv7)"),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=True, comment="Kafka message key: the aggregate id"),
        Column("type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("subject", Text, nullable=True),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("data", JSONB, nullable=False),
        Column(
            "headers",
            JSONB,
            nullable=False,
            server_default=text("'{}'::jsonb"),
            comment="Extension attributes sent as Kafka headers (traceparent, ...)",
        ),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
    ]


def _inbox_columns() -> list[SchemaItem]:
    return [
        Column("consumer_group", Text, nullable=False),
        Column("event_id", Text, nullable=False, comment="CloudEvent id (any string per spec)"),
        Column("event_type", Text, nullable=False),
        Column("outcome", Text, nullable=False, server_default=text("'applied'")),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer_group", "event_id", name="pk_inbox"),
    ]


def define_messaging_tables(metadata: MetaData) -> MessagingTables:
    """Add `outbox` and `inbox` to a service's MetaData and return them."""
    outbox = Table(OUTBOX_TABLE, metadata, *_outbox_columns())
    Index(OUTBOX_PENDING_INDEX, outbox.c.id, postgresql_where=outbox.c.published_at.is_(None))
    inbox = Table(INBOX_TABLE, metadata, *_inbox_columns())
    return MessagingTables(outbox=outbox, inbox=inbox)


def create_messaging_tables(op: Any, schema: str | None = None) -> None:
    """Create both tables from an Alembic migration (`op` is `alembic.op`)."""
    op.create_table(OUTBOX_TABLE, *_outbox_columns(), schema=schema)
    op.create_index(
        OUTBOX_PENDING_INDEX,
        OUTBOX_TABLE,
        ["id"],
        schema=schema,
        postgresql_where=text(UNPUBLISHED),
    )
    op.create_table(INBOX_TABLE, *_inbox_columns(), schema=schema)


def drop_messaging_tables(op: Any, schema: str | None = None) -> None:
    """Drop both tables from an Alembic migration's downgrade."""
    op.drop_table(INBOX_TABLE, schema=schema)
    op.drop_index(OUTBOX_PENDING_INDEX, table_name=OUTBOX_TABLE, schema=schema)
    op.drop_table(OUTBOX_TABLE, schema=schema)
