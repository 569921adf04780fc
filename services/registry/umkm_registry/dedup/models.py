"""Dedup tables: the review queue of duplicate candidates and the history of merges.
(`umkm.merged_into`, created by migration 0003, is mapped in umkm_registry.models.)"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base

CANDIDATE_STATUSES = ("open", "merged", "kept_both", "superseded")


class DuplicateCandidate(Base):
    """A pair of active records that may be the same business, waiting for a Dinas decision.

    The pair is stored ordered (`umkm_a < umkm_b`) and unique, so detecting it again is a no-op
    and a decision (merge, keep both) is never asked twice.
    """

    __tablename__ = "duplicate_candidates"
    __table_args__ = (
        UniqueConstraint("umkm_a", "umkm_b", name="uq_duplicate_candidates_pair"),
        CheckConstraint("umkm_a < umkm_b", name="ordered_pair"),
        CheckConstraint("status IN ('open', 'merged', 'kept_both', 'superseded')", name="status"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided"),
        CheckConstraint("(status = 'merged') = (survivor_id IS NOT NULL)", name="survivor"),
        Index("ix_duplicate_candidates_queue", "province_code", "status", "id"),
        Index(
            "ix_duplicate_candidates_village",
            "village_code",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
        Index("ix_duplicate_candidates_umkm_b", "umkm_b"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    umkm_a: Mapped[uuid.UUID] = mapped_column(Uuid)
    umkm_b: Mapped[uuid.UUID] = mapped_column(Uuid)
    province_code: Mapped[str] = mapped_column(String(2))
    regency_code: Mapped[str] = mapped_column(String(5))
    village_code: Mapped[str] = mapped_column(String(13))
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")
    survivor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MergeHistory(Base):
    """One merge: who decided it, what the merged record looked like, what the survivor took."""

    __tablename__ = "merge_history"
    __table_args__ = (
        Index("ix_merge_history_survivor", "survivor_id"),
        UniqueConstraint("merged_id", name="uq_merge_history_merged_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    candidate_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    survivor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    merged_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    province_code: Mapped[str] = mapped_column(String(2))
    merged_record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    survivor_before: Mapped[dict[str, Any]] = mapped_column(JSONB)
    filled_fields: Mapped[list[str]] = mapped_column(JSONB)
    decided_by: Mapped[str] = mapped_column(Text)
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
