"""Financing broker tables (created by migrations 0002+; the DDL there is the source of truth
for constraints, these mappings are what the code reads and writes).

Read models fed by other services' events: `anchors`, `umkm_facts`, `umkm_clusters`,
`purchase_orders`. Own data: banks, KUR rules versions, programmes, the limits ledger
(`limit_layers` + `limit_entries`), applications with their routes, offers and history, loans,
repayments, SNAP external ids and the NIK access log.
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
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from umkm_shared.auth import define_auth_tables
from umkm_shared.idempotency import define_idempotency_table
from umkm_shared.messaging.tables import define_messaging_tables
from umkm_shared.webhooks import define_webhook_tables

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


# --- read models ---------------------------------------------------------------------------


class Anchor(Base):
    __tablename__ = "anchors"

    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    sector: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _now()


class UmkmFacts(Base):
    __tablename__ = "umkm_facts"

    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    business_name: Mapped[str] = mapped_column(Text)
    owner_nik_masked: Mapped[str] = mapped_column(String(16))
    npwp: Mapped[str | None] = mapped_column(String(16))
    nib: Mapped[str | None] = mapped_column(String(13))
    founded_on: Mapped[date | None] = mapped_column(Date)
    scale: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    kbli_code: Mapped[str | None] = mapped_column(String(5))
    province_code: Mapped[str] = mapped_column(String(2))
    regency_code: Mapped[str] = mapped_column(String(5))
    version: Mapped[int] = mapped_column(Integer)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[datetime] = _now()


class UmkmCluster(Base):
    __tablename__ = "umkm_clusters"

    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    sector_code: Mapped[str | None] = mapped_column(Text)
    assignment_seq: Mapped[int] = mapped_column(BigInteger)


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"

    po_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    po_number: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    amount_idr: Mapped[int | None] = mapped_column(BigInteger)
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    delivery_due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    goods_received: Mapped[bool] = mapped_column(Boolean, default=False)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    invoice_number: Mapped[str | None] = mapped_column(Text)
    invoice_amount_idr: Mapped[int | None] = mapped_column(BigInteger)
    invoice_due_on: Mapped[date | None] = mapped_column(Date)
    paid_amount_idr: Mapped[int | None] = mapped_column(BigInteger)
    payment_reference: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()


# --- own data ------------------------------------------------------------------------------


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    partner_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(Text)
    signing_secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = _now()


class KurRulesVersion(Base):
    __tablename__ = "kur_rules"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_by: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = _now()


class Programme(Base):
    __tablename__ = "programmes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    bank_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(Text)
    products: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    supplier_sublimit_idr: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = _now()


class LimitLayer(Base):
    __tablename__ = "limit_layers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # anchor_cap | programme | supplier
    bank_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    programme_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    umkm_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    limit_idr: Mapped[int] = mapped_column(BigInteger)
    reserved_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    used_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = _now()


class LimitEntry(Base):
    __tablename__ = "limit_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bank_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    application_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    offer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(10))  # reserve | release | use | recover
    amount_idr: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _now()


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    product: Mapped[str] = mapped_column(String(20))
    amount_requested_idr: Mapped[int] = mapped_column(BigInteger)
    tenor_days: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(Text)
    po_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(30))
    opened_by_kind: Mapped[str] = mapped_column(String(20))
    opened_by_id: Mapped[str | None] = mapped_column(Text)
    opened_by_client: Mapped[str] = mapped_column(Text)
    prior_kur_count_declared: Mapped[int] = mapped_column(Integer, default=0)
    bpjs_ketenagakerjaan: Mapped[str | None] = mapped_column(Text)
    owner_nik_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    nik_consent_reference: Mapped[str | None] = mapped_column(Text)
    nik_consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    prescreen: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    rules_version: Mapped[str | None] = mapped_column(String(40))
    confirmed_amount_idr: Mapped[int | None] = mapped_column(BigInteger)
    accepted_offer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    bank_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    referral_note: Mapped[str | None] = mapped_column(Text)
    info_response: Mapped[str | None] = mapped_column(Text)
    decision_note: Mapped[str | None] = mapped_column(Text)
    agreement_reference: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ApplicationRoute(Base):
    __tablename__ = "application_routes"

    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    bank_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    routed_at: Mapped[datetime] = _now()


class ApplicationHistory(Base):
    __tablename__ = "application_history"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = _now()


class Offer(Base):
    __tablename__ = "offers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bank_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    programme_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount_idr: Mapped[int] = mapped_column(BigInteger)
    rate_pa: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    tenor_days: Mapped[int] = mapped_column(Integer)
    advance_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    fees_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    collateral_required: Mapped[bool] = mapped_column(Boolean, default=False)
    conditions: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="open")
    reserved_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _now()


class Loan(Base):
    __tablename__ = "loans"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bank_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    anchor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    programme_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    product: Mapped[str] = mapped_column(String(20))
    po_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    principal_idr: Mapped[int] = mapped_column(BigInteger)
    fees_idr: Mapped[int] = mapped_column(BigInteger)
    rate_pa: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    disbursed_on: Mapped[date] = mapped_column(Date)
    maturity_on: Mapped[date] = mapped_column(Date)
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    disbursement_reference: Mapped[str] = mapped_column(Text)
    principal_paid_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_paid_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_unpaid_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_accrued_to: Mapped[date] = mapped_column(Date)
    remainder_paid_out_idr: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="active")
    kol: Mapped[int] = mapped_column(Integer, default=1)
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    kol_as_of: Mapped[date | None] = mapped_column(Date)
    closure_reason: Mapped[str | None] = mapped_column(String(20))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    @property
    def outstanding_idr(self) -> int:
        return self.principal_idr - self.principal_paid_idr


class Repayment(Base):
    __tablename__ = "repayments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    loan_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    source: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str] = mapped_column(Text)
    amount_idr: Mapped[int] = mapped_column(BigInteger)
    interest_idr: Mapped[int] = mapped_column(BigInteger)
    principal_idr: Mapped[int] = mapped_column(BigInteger)
    remainder_idr: Mapped[int] = mapped_column(BigInteger)
    outstanding_after_idr: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = _now()


class PiiAccessLog(Base):
    """Every read of an applicant's unmasked NIK (UU PDP accountability)."""

    __tablename__ = "pii_access_log"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    client_id: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(Text)
    accessed_at: Mapped[datetime] = _now()


messaging_tables = define_messaging_tables(metadata)
auth_tables = define_auth_tables(metadata)
idempotency_table = define_idempotency_table(metadata)
webhook_tables = define_webhook_tables(metadata)
