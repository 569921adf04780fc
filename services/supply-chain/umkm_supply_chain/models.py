"""Supply chain tables.

- Anchors (owned here) with their sites; OAuth clients for their API access.
- The supplier read model: one row per UMKM built from registry events (`suppliers`), enriched
  through the API (`supplier_products`, sites, extra certifications, lead time), with koperasi
  memberships and cluster assignment from events and performance from completed orders.
  `sync_txid` (set by a trigger on every write) lets the in-memory matching index pick up
  changes incrementally and gap-free (see `matching.index.SupplierIndex.sync`).
- Procurement requests, their match runs (persisted so an award refers to what the anchor saw),
  purchase orders, goods receipts (BAST) and invoices.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from umkm_shared.auth import define_auth_tables
from umkm_shared.idempotency import define_idempotency_table
from umkm_shared.messaging.tables import define_messaging_tables
from umkm_shared.webhooks import define_webhook_tables

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

QTY = Numeric(18, 3)
TXID = text("pg_current_xact_id()::text::bigint")


class Base(DeclarativeBase):
    metadata = metadata


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Anchor(Base):
    __tablename__ = "anchors"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    nib: Mapped[str | None] = mapped_column(String(13), unique=True)
    npwp: Mapped[str | None] = mapped_column(String(16))
    sector: Mapped[str] = mapped_column(Text)
    state_owned: Mapped[bool] = mapped_column(Boolean, default=False)
    province_code: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    po_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class AnchorSite(Base):
    __tablename__ = "anchor_sites"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    anchor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("anchors.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    village_code: Mapped[str | None] = mapped_column(String(13))
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = _now()


class Supplier(Base):
    """The supplier profile of one UMKM (read model from registry events + enrichment)."""

    __tablename__ = "suppliers"
    __table_args__ = (
        Index("ix_suppliers_sync", "sync_txid"),
        Index(
            "ix_suppliers_village",
            "village_code",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
    )

    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    business_name: Mapped[str] = mapped_column(Text)
    kbli_code: Mapped[str] = mapped_column(String(5))
    kbli_others: Mapped[list[str]] = mapped_column(JSONB, default=list)
    village_code: Mapped[str] = mapped_column(String(13))
    province_code: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    scale: Mapped[str] = mapped_column(String(10))
    registry_products: Mapped[list[str]] = mapped_column(JSONB, default=list)
    registry_certifications: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    extra_certifications: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    sites: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="active")
    merged_into: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    registry_version: Mapped[int] = mapped_column(Integer, default=0)
    koperasi_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cluster_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    orders_completed: Mapped[int] = mapped_column(Integer, default=0)
    orders_on_time: Mapped[int] = mapped_column(Integer, default=0)
    quantity_received: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    quantity_accepted: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    profile_version: Mapped[int] = mapped_column(Integer, default=1)
    sync_txid: Mapped[int] = mapped_column(BigInteger, server_default=TXID)
    updated_at: Mapped[datetime] = _now()


class SupplierProduct(Base):
    """What a supplier makes: KBLI 5-digit, keywords, specification, monthly capacity."""

    __tablename__ = "supplier_products"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    umkm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("suppliers.umkm_id"), index=True)
    kbli_code: Mapped[str] = mapped_column(String(5))
    name: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    monthly_capacity: Mapped[Decimal | None] = mapped_column(QTY)
    unit: Mapped[str | None] = mapped_column(String(20))
    lead_time_days: Mapped[int | None] = mapped_column(Integer)


class Membership(Base):
    """Koperasi memberships of suppliers (from registry events)."""

    __tablename__ = "supplier_memberships"

    membership_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    koperasi_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Cluster(Base):
    """Clusters known from clustering events (for the operator anchor)."""

    __tablename__ = "clusters"

    cluster_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sector_code: Mapped[str] = mapped_column(Text)
    operator_anchor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    sync_txid: Mapped[int] = mapped_column(BigInteger, server_default=TXID, index=True)


class ClusterAssignment(Base):
    """Each UMKM's cluster: the assignment with the highest `assignment_seq` seen (events of
    different clusters may arrive in any order)."""

    __tablename__ = "cluster_assignments"

    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    assignment_seq: Mapped[int] = mapped_column(BigInteger)


class ProcurementRequest(Base):
    __tablename__ = "procurement_requests"
    __table_args__ = (Index("ix_requests_anchor", "anchor_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    anchor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("anchors.id"))
    title: Mapped[str] = mapped_column(Text)
    kbli_code: Mapped[str | None] = mapped_column(String(5))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    quantity: Mapped[Decimal] = mapped_column(QTY)
    unit: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivery_latitude: Mapped[float] = mapped_column(Float)
    delivery_longitude: Mapped[float] = mapped_column(Float)
    deadline: Mapped[date] = mapped_column(Date)
    required_certifications: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    preferred_certifications: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    max_distance_km: Mapped[float | None] = mapped_column(Float)
    budget_idr: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    awarded_quantity: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class MatchRun(Base):
    """One matching of a request, as the anchor saw it (candidates and bundles)."""

    __tablename__ = "match_runs"
    __table_args__ = (Index("ix_match_runs_request", "request_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement_requests.id"))
    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    supplier_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    created_at: Mapped[datetime] = _now()


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (
        Index("ix_po_anchor", "anchor_id", "id"),
        Index("ix_po_supplier", "umkm_id", "id"),
        Index("ix_po_request", "request_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    anchor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("anchors.id"))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement_requests.id"))
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    supplier_village_code: Mapped[str] = mapped_column(String(13))
    po_number: Mapped[str] = mapped_column(Text)
    kbli_code: Mapped[str | None] = mapped_column(String(5))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(QTY)
    unit: Mapped[str] = mapped_column(String(20))
    unit_price_idr: Mapped[int] = mapped_column(BigInteger)
    amount_idr: Mapped[int] = mapped_column(BigInteger)
    delivery_due_on: Mapped[date] = mapped_column(Date)
    payment_terms_days: Mapped[int] = mapped_column(Integer)
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    match_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(12), default="issued")
    reason: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    declined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invoiced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)


class GoodsReceipt(Base):
    """A goods-received note (BAST): what arrived and what was accepted."""

    __tablename__ = "goods_receipts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    po_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_orders.id"), unique=True)
    quantity_received: Mapped[Decimal] = mapped_column(QTY)
    quantity_accepted: Mapped[Decimal] = mapped_column(QTY)
    received_on: Mapped[date] = mapped_column(Date)
    on_time: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    po_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_orders.id"), unique=True)
    invoice_number: Mapped[str] = mapped_column(Text)
    amount_idr: Mapped[int] = mapped_column(BigInteger)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="issued")
    payment_reference: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


messaging_tables = define_messaging_tables(metadata)
auth_tables = define_auth_tables(metadata)
idempotency_table = define_idempotency_table(metadata)
webhook_tables = define_webhook_tables(metadata)
