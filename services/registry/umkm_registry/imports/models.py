"""Tables of the bulk import: one row per job, one row per rejected row (migration 0002).

Per job, two UNLOGGED work tables are created at run time and dropped when the job is done
(`import_stage_<id>`: every valid row, `import_win_<id>`: the last row of each business), see
loader.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from ..models import Base

STATUSES = ("queued", "running", "done", "failed")
PHASES = ("staging", "merging", "finished")


class ImportJob(Base):
    __tablename__ = "imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(20))
    wilayah: Mapped[str | None] = mapped_column(String(13))  # a Dinas's scope; None: national
    file_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    delimiter: Mapped[str | None] = mapped_column(String(1))
    sheet: Mapped[str | None] = mapped_column(Text)
    spool_path: Mapped[str] = mapped_column(Text)
    column_mapping: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    phase: Mapped[str] = mapped_column(String(10), default="staging")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_staged: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    inserted: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    merge_total: Mapped[int] = mapped_column(BigInteger, default=0)
    merge_done: Mapped[int] = mapped_column(BigInteger, default=0)
    merge_cursor: Mapped[int] = mapped_column(Integer, default=0)  # merge batches done
    merge_span: Mapped[int] = mapped_column(Integer, default=0)  # buckets per merge batch
    merged_batches: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportRowError(Base):
    __tablename__ = "import_errors"

    import_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    column_name: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
