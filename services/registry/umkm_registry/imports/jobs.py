"""Import jobs as the API sees them: who may see which, creation, listing, retry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind
from umkm_shared.errors import Conflict, Forbidden, NotFound

from .columns import BY_KEY, COLUMNS, FIELDS
from .models import ImportJob
from .schemas import ColumnOut, Counts, ImportJobOut, Progress, RowErrorOut, Submitter

REQUIRED = frozenset({"business_name", "owner_name", "owner_nik", "kbli"})


def columns() -> list[ColumnOut]:
    return [
        ColumnOut(
            field=c.key,
            header=c.label,
            description=c.description,
            aliases=list(c.aliases),
            required=c.key in REQUIRED,
        )
        for c in COLUMNS
    ]


def check_mapping(mapping: Any) -> dict[str, str | None]:
    """A column_mapping override: {"header in the file": field key or null}."""
    from umkm_shared.errors import invalid

    if not isinstance(mapping, dict):
        raise invalid("body.column_mapping", 'expected a JSON object {"header": "field"}')
    out: dict[str, str | None] = {}
    for header, key in mapping.items():
        if not isinstance(header, str) or not header.strip():
            raise invalid("body.column_mapping", "headers must be non-empty strings")
        if key is not None and key not in BY_KEY:
            raise invalid(
                "body.column_mapping",
                f"{key!r} is not a field; fields: {', '.join(FIELDS)} (or null to ignore)",
                key,
            )
        out[header] = key
    return out


def can_see(actor: Actor, job: ImportJob) -> bool:
    if actor.kind in (ActorKind.MINISTRY, ActorKind.SERVICE):
        return True
    if actor.kind is ActorKind.DINAS and actor.wilayah and job.wilayah:
        return job.wilayah == actor.wilayah or job.wilayah.startswith(actor.wilayah + ".")
    return False


async def get_visible(session: AsyncSession, actor: Actor, job_id: uuid.UUID) -> ImportJob:
    job = await session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(detail=f"import {job_id} does not exist")
    if not can_see(actor, job):
        raise Forbidden(detail=f"import {job_id} belongs to another wilayah or client")
    return job


async def list_jobs(
    session: AsyncSession, actor: Actor, after: uuid.UUID | None, limit: int, status: str | None
) -> list[ImportJob]:
    stmt = select(ImportJob)
    if actor.kind is ActorKind.DINAS:
        w = actor.wilayah or ""
        stmt = stmt.where(or_(ImportJob.wilayah == w, ImportJob.wilayah.startswith(w + ".")))
    elif actor.kind not in (ActorKind.MINISTRY, ActorKind.SERVICE):
        stmt = stmt.where(and_(ImportJob.client_id == actor.client_id))
    if status:
        stmt = stmt.where(ImportJob.status == status)
    if after is not None:
        stmt = stmt.where(ImportJob.id < after)
    stmt = stmt.order_by(ImportJob.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def retry(
    session: AsyncSession, job: ImportJob, mapping: dict[str, str | None] | None
) -> None:
    """Queue a failed job again: it resumes where it stopped, or starts over with a new
    mapping (its error report is then rebuilt)."""
    if job.status != "failed":
        raise Conflict(
            detail=f"import {job.id} is {job.status}; only a failed import can be retried",
            extra={"status": job.status},
        )
    params: dict[str, Any] = {"id": job.id}
    reset = ""
    if mapping is not None or job.phase == "staging":
        # staging again from row 1 (the worker drops the old work tables)
        reset = """, phase = 'staging', rows_read = 0, bytes_read = 0, rows_total = 0,
                   rows_staged = 0, rows_failed = 0, rows_duplicate = 0, inserted = 0,
                   updated = 0, unchanged = 0, merge_total = 0, merge_done = 0,
                   merge_cursor = 0, merge_span = 0, merged_batches = '{}',
                   summary = '{}'::jsonb"""
        await session.execute(
            text("DELETE FROM import_errors WHERE import_id = :id"), {"id": job.id}
        )
        # (records already merged by an earlier attempt are matched again: unchanged)
    if mapping is not None:
        reset += ", column_mapping = CAST(:m AS jsonb)"
        import orjson

        params["m"] = orjson.dumps(mapping).decode()
    await session.execute(
        text(
            f"""UPDATE imports SET status = 'queued', error = NULL, finished_at = NULL,
                attempts = 0 {reset} WHERE id = :id"""
        ),
        params,
    )


def to_out(job: ImportJob, base: str = "v1/imports") -> ImportJobOut:
    now = datetime.now(UTC)
    rate = None
    if job.started_at is not None:
        end = job.finished_at or now
        seconds = (end - job.started_at).total_seconds()
        done = job.rows_total if job.status == "done" else job.rows_read
        rate = round(done / seconds, 1) if seconds > 0 else None
    ok = job.inserted + job.updated + job.unchanged + job.rows_duplicate
    if job.phase == "staging":
        ok = job.rows_staged
    return ImportJobOut(
        id=job.id,
        status=job.status,
        file_name=job.file_name,
        format=job.format,
        size_bytes=job.size_bytes,
        sha256=job.sha256,
        submitted_by=Submitter(client_id=job.client_id, kind=job.actor_kind, wilayah=job.wilayah),
        column_mapping=job.column_mapping or {},
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=Progress(
            phase=job.phase,
            rows_done=job.rows_read,
            bytes_done=job.bytes_read if job.phase == "staging" else job.size_bytes,
            bytes_total=job.size_bytes,
            rows_per_second=rate,
            errors_so_far=job.rows_failed,
            businesses_merged=job.merge_done,
            businesses_total=job.merge_total,
        ),
        counts=Counts(
            rows_total=job.rows_total,
            rows_ok=ok,
            rows_failed=job.rows_failed,
            rows_duplicate=job.rows_duplicate,
            inserted=job.inserted,
            updated=job.updated,
            unchanged=job.unchanged,
        ),
        summary=job.summary or {},
        error=job.error,
        links={
            "self": f"{base}/{job.id}",
            "errors": f"{base}/{job.id}/errors",
            "errors_csv": f"{base}/{job.id}/errors.csv",
        },
    )


def error_out(job: ImportJob, row: Any) -> RowErrorOut:
    header_row = int((job.summary or {}).get("header_row", 1))
    return RowErrorOut(
        row=row.row_number,
        line=row.row_number + header_row,
        column=row.column_name,
        value=row.value,
        reason=row.reason,
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell for a CSV opened in Excel: text starting like a formula gets a leading
    apostrophe, so `=HYPERLINK(...)` is shown, never run (OWASP CSV injection)."""
    if value is None:
        return ""
    text_value = str(value)
    return "'" + text_value if text_value.startswith(_FORMULA_START) else text_value
