"""Koperasi tables, on the registry's shared declarative `Base` (created by migration 0004).

A membership row is one period of membership: leaving closes it (`left_on`), re-joining opens a
new row, so the history is kept. At most one OPEN membership per (koperasi, UMKM) is enforced by
a partial unique index. `umkm_id` has no foreign key: the UMKM table is partitioned by province
and its primary key is (province_code, id).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base


class Koperasi(Base):
    __tablename__ = "koperasi"
    __table_args__ = (
        Index(
            "ix_koperasi_wilayah_prefix",
            "wilayah_code",
            postgresql_ops={"wilayah_code": "text_pattern_ops"},
        ),
        Index(
            "ix_koperasi_name_trgm",
            "name_search",
            postgresql_using="gin",
            postgresql_ops={"name_search": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # lower-cased, whitespace-folded copy for trigram search
    name_search: Mapped[str] = mapped_column(Text)
    legal_number: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    wilayah_code: Mapped[str] = mapped_column(String(13))
    province_code: Mapped[str] = mapped_column(String(2))
    regency_code: Mapped[str] = mapped_column(String(5))
    address: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="active")
    dissolved_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class KoperasiMembership(Base):
    __tablename__ = "koperasi_memberships"
    __table_args__ = (
        Index(
            "uq_koperasi_memberships_open",
            "koperasi_id",
            "umkm_id",
            unique=True,
            postgresql_where=text("left_on IS NULL"),
        ),
        Index("ix_koperasi_memberships_koperasi", "koperasi_id", "id"),
        Index("ix_koperasi_memberships_umkm", "umkm_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    koperasi_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("koperasi.id"))
    umkm_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    left_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_by: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
