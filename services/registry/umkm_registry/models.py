"""Registry tables. The UMKM table is list-partitioned by province (38 partitions + default)
so national-scale imports, Dinas queries and vacuum work province by province.

Because a unique index on a partitioned table must include the partition key, NIB
uniqueness across the whole country is enforced by the small `umkm_nib` table.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from umkm_shared.auth import define_auth_tables
from umkm_shared.idempotency import define_idempotency_table
from umkm_shared.messaging.tables import define_messaging_tables

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(DeclarativeBase):
    metadata = metadata


class Umkm(Base):
    __tablename__ = "umkm"
    __table_args__ = (
        Index("ix_umkm_id", "id"),
        Index(
            "ix_umkm_village_prefix",
            "village_code",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
        Index("ix_umkm_kbli_prefix", "kbli_code", postgresql_ops={"kbli_code": "text_pattern_ops"}),
        Index("ix_umkm_owner_nik_hash", "owner_nik_hash"),
        Index("ix_umkm_scale", "scale"),
        Index(
            "ix_umkm_name_trgm",
            "business_name_search",
            postgresql_using="gin",
            postgresql_ops={"business_name_search": "gin_trgm_ops"},
        ),
        {"postgresql_partition_by": "LIST (province_code)"},
    )

    province_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    regency_code: Mapped[str] = mapped_column(String(5))
    district_code: Mapped[str] = mapped_column(String(8))
    village_code: Mapped[str] = mapped_column(String(13))
    business_name: Mapped[str] = mapped_column(Text)
    # lower-cased, whitespace-folded copy for trigram search
    business_name_search: Mapped[str] = mapped_column(Text)
    owner_name: Mapped[str] = mapped_column(Text)
    owner_nik_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    owner_nik_hash: Mapped[str] = mapped_column(String(64))
    owner_nik_masked: Mapped[str] = mapped_column(String(16))
    nib: Mapped[str | None] = mapped_column(String(13))
    npwp: Mapped[str | None] = mapped_column(String(16))
    kbli_version: Mapped[str] = mapped_column(String(4))
    kbli_code: Mapped[str] = mapped_column(String(5))
    kbli_others: Mapped[list[dict[str, str]]] = mapped_column(JSONB, default=list)
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    location_approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    capital_idr: Mapped[int | None] = mapped_column(BigInteger)
    annual_sales_idr: Mapped[int | None] = mapped_column(BigInteger)
    scale: Mapped[str] = mapped_column(String(10))
    workforce: Mapped[int | None] = mapped_column(Integer)
    founded_on: Mapped[date | None] = mapped_column(Date)
    products: Mapped[list[str]] = mapped_column(JSONB, default=list)
    certifications: Mapped[list[dict[str, str | None]]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(10), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deactivation_reason: Mapped[str | None] = mapped_column(Text)
    # The record a merged UMKM was merged into (NULL unless status is "merged"; migration 0003).
    merged_into: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class UmkmChange(Base):
    """The region-scoped change feed for Dinas systems: one row per change of an UMKM.

    `txid` (the writing transaction's id) makes the feed gap-free: only rows of transactions
    older than every running one are served, ordered by (txid, seq), so a slow transaction can
    never commit a row behind a cursor that a reader already passed.
    """

    __tablename__ = "umkm_changes"
    __table_args__ = (
        Index("ix_umkm_changes_feed", "txid", "seq"),
        Index("ix_umkm_changes_province_feed", "province_code", "txid", "seq"),
        Index("ix_umkm_changes_regency_feed", "regency_code", "txid", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("pg_current_xact_id()::text::bigint")
    )
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    province_code: Mapped[str] = mapped_column(String(2))
    regency_code: Mapped[str] = mapped_column(String(5))
    change: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UmkmNib(Base):
    """One NIB, one business, across every province partition."""

    __tablename__ = "umkm_nib"

    nib: Mapped[str] = mapped_column(String(13), primary_key=True)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    province_code: Mapped[str] = mapped_column(String(2))


class ScaleHistory(Base):
    """Every scale an UMKM has had ("naik kelas"), first registration included."""

    __tablename__ = "scale_history"
    __table_args__ = (Index("ix_scale_history_umkm", "umkm_id", "changed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    province_code: Mapped[str] = mapped_column(String(2))
    previous_scale: Mapped[str | None] = mapped_column(String(10))
    new_scale: Mapped[str] = mapped_column(String(10))
    capital_idr: Mapped[int | None] = mapped_column(BigInteger)
    annual_sales_idr: Mapped[int | None] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str | None] = mapped_column(Text)


class PiiAccessLog(Base):
    """Every read of an unmasked NIK (UU PDP 27/2022 accountability)."""

    __tablename__ = "pii_access_log"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    client_id: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str | None] = mapped_column(Text)
    accessed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


messaging_tables = define_messaging_tables(metadata)
auth_tables = define_auth_tables(metadata)
idempotency_table = define_idempotency_table(metadata)
