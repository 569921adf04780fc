"""HTTP endpoints of the bulk import (docs/import.md walks through them with curl).

POST /v1/imports                 upload a file -> 202 + job (Location)
GET  /v1/imports                 the caller's jobs (a Dinas: its wilayah's; ministry: all)
GET  /v1/imports/columns         the documented column mapping
GET  /v1/imports/{id}            status, progress, counts, summary
GET  /v1/imports/{id}/errors     the per-row error report (JSON, paged)
GET  /v1/imports/{id}/errors.csv the same as a CSV download (streamed)
POST /v1/imports/{id}/retry      queue a failed job again
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select, tuple_

from umkm_shared.errors import (
    FieldError,
    UnsupportedMediaType,
    ValidationFailed,
    invalid,
)
from umkm_shared.idempotency import (
    IdempotencyInProgress,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    parse_key,
    stored_headers,
)
from umkm_shared.ids import new_id
from umkm_shared.pagination import decode_cursor, encode_cursor
from umkm_shared.web import problem_responses

from ..endpoints import Ctx, Reader, Writer
from . import jobs
from .models import ImportJob, ImportRowError
from .readers import FileRejected, sniff_format
from .schemas import ColumnOut, ImportJobOut, ImportPage, RetryIn, RowErrorPage
from .settings import ImportSettings
from .upload import receive

router = APIRouter(prefix="/v1", tags=["imports"])


def _settings(request: Request) -> ImportSettings:
    settings = getattr(request.app.state, "import_settings", None)
    return settings if isinstance(settings, ImportSettings) else ImportSettings()


def _poke(request: Request) -> None:
    worker = getattr(request.app.state, "import_worker", None)
    if worker is not None:
        worker.poke()


def _job_response(job: ImportJob, status_code: int = 200) -> JSONResponse:
    body = jobs.to_out(job).model_dump(mode="json")
    headers = {"Location": f"v1/imports/{job.id}"} if status_code == 202 else {}
    return JSONResponse(body, status_code=status_code, headers=headers)


@router.get("/imports/columns", response_model=list[ColumnOut])
async def import_columns(actor: Reader) -> list[ColumnOut]:
    """The columns an import file may have, their Indonesian header and the other headers
    recognised for them (matching ignores case, punctuation, spacing and "(Rp)")."""
    return jobs.columns()


@router.post(
    "/imports",
    status_code=202,
    response_model=ImportJobOut,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "column_mapping": {
                                "type": "string",
                                "description": 'JSON: {"header in the file": "field" | null}',
                            },
                            "format": {"type": "string", "enum": ["csv", "xlsx", "ndjson"]},
                            "delimiter": {"type": "string", "enum": [",", ";", "\t", "|"]},
                            "encoding": {
                                "type": "string",
                                "enum": ["utf-8", "utf-8-sig", "cp1252"],
                            },
                            "sheet": {"type": "string"},
                        },
                    }
                },
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def submit(
    request: Request,
    actor: Writer,
    ctx: Ctx,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Upload a CSV (comma or semicolon; UTF-8 with or without BOM, or Windows-1252), XLSX or
    NDJSON file of UMKM rows. The file is stored and checked in the background: follow the
    `Location` for progress, then download the error report. A Dinas imports only rows of its
    wilayah; others are reported. Importing the same rows again changes nothing."""
    settings = _settings(request)
    key = parse_key(idempotency_key)
    job_id = new_id()
    spool = settings.spool_dir / f"{job_id}.upload"
    upload = await receive(request, spool, settings.max_file_bytes)
    try:
        fields = upload.fields
        mapping: dict[str, str | None] = {}
        if fields.get("column_mapping", "").strip():
            try:
                mapping = jobs.check_mapping(orjson.loads(fields["column_mapping"]))
            except orjson.JSONDecodeError as e:
                raise invalid("body.column_mapping", f"not valid JSON: {e}") from e
        fmt = _format(upload.head, upload.path, fields.get("format"))
        delimiter = fields.get("delimiter") or None
        if delimiter is not None and delimiter not in (",", ";", "\t", "|"):
            raise invalid("body.delimiter", "one of , ; | or a tab", delimiter)
        encoding = fields.get("encoding") or (upload.encoding if fmt != "xlsx" else None)
        if encoding not in (None, "utf-8", "utf-8-sig", "cp1252"):
            raise invalid("body.encoding", "utf-8, utf-8-sig or cp1252", encoding)
        if fmt == "ndjson" and encoding == "cp1252":
            raise ValidationFailed(
                detail="NDJSON must be UTF-8; this file is not.",
                errors=[FieldError("body.file", "not valid UTF-8")],
            )
        path = request.url.path
        fp = fingerprint(
            "POST",
            path,
            orjson.dumps(
                {
                    "sha256": upload.sha256,
                    "mapping": mapping,
                    "options": {k: v for k, v in fields.items() if k != "column_mapping"},
                },
                option=orjson.OPT_SORT_KEYS,
            ),
        )
        async with ctx.db.transaction() as session:
            store = IdempotencyStore(session) if key else None
            if store is not None and key is not None:
                if not await store.try_lock(actor.client_id, key):
                    raise IdempotencyInProgress(
                        detail="A request with this Idempotency-Key is still being processed."
                    )
                found = await store.find(actor.client_id, key)
                if found is not None:
                    stored_fp, stored = found
                    if stored_fp != fp:
                        raise ValidationFailed(
                            detail="This Idempotency-Key was already used for a different request.",
                            errors=[
                                FieldError(
                                    "header.Idempotency-Key",
                                    "already used with a different request",
                                )
                            ],
                        )
                    upload.path.unlink(missing_ok=True)
                    return stored.to_response(replayed=True)
            final = settings.spool_dir / f"{job_id}.{fmt}"
            upload.path.rename(final)
            upload.path = final
            job = ImportJob(
                id=job_id,
                client_id=actor.client_id,
                actor_kind=str(actor.kind),
                wilayah=actor.wilayah if actor.kind == "dinas" else None,
                file_name=upload.file_name,
                sha256=upload.sha256,
                size_bytes=upload.size,
                format=fmt,
                encoding=encoding,
                delimiter=delimiter,
                sheet=fields.get("sheet") or None,
                spool_path=str(final),
                column_mapping=mapping,
                status="queued",
                phase="staging",
                summary={},
            )
            previous = await session.scalar(
                select(ImportJob.id)
                .where(ImportJob.sha256 == upload.sha256, ImportJob.client_id == actor.client_id)
                .order_by(ImportJob.id.desc())
                .limit(1)
            )
            if previous is not None:
                job.summary = {"same_file_as": str(previous)}
            session.add(job)
            await session.flush()
            await session.refresh(job)
            response = _job_response(job, 202)
            if store is not None and key is not None:
                await store.save(
                    actor.client_id,
                    key,
                    method="POST",
                    path=path,
                    fingerprint=fp,
                    response=StoredResponse(
                        202, stored_headers(response.headers), bytes(response.body)
                    ),
                )
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    _poke(request)
    return response


def _format(head: bytes, path: Any, hint: str | None) -> str:
    if hint is not None and hint not in ("csv", "xlsx", "ndjson"):
        raise invalid("body.format", "csv, xlsx or ndjson", hint)
    try:
        sniffed = sniff_format(head, path)
    except FileRejected as e:
        if str(e) == "the file is empty":
            raise ValidationFailed(
                detail="The file is empty.", errors=[FieldError("body.file", "empty file")]
            ) from e
        raise UnsupportedMediaType(
            detail=f"This file cannot be imported: it is {e}.",
            extra={"accepted": ["text/csv", "application/x-ndjson", "XLSX"]},
        ) from e
    if hint is None or hint == sniffed:
        return sniffed
    if "xlsx" in (hint, sniffed):
        raise UnsupportedMediaType(detail=f"format is {hint!r} but the file is {sniffed}")
    return hint


@router.get("/imports", response_model=ImportPage, responses=problem_responses(401, 403, 422))
async def list_imports(
    actor: Reader,
    ctx: Ctx,
    status: Literal["queued", "running", "done", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ImportPage:
    """Newest first. A Dinas sees the imports of its wilayah; the ministry sees all."""
    after = _uuid_cursor(cursor)
    async with ctx.db.transaction() as session:
        rows = await jobs.list_jobs(session, actor, after, limit + 1, status)
    items = [jobs.to_out(j) for j in rows[:limit]]
    more = len(rows) > limit
    return ImportPage(
        items=items, next_cursor=encode_cursor(str(rows[limit - 1].id)) if more else None
    )


def _uuid_cursor(cursor: str | None) -> uuid.UUID | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e


@router.get(
    "/imports/{import_id}", response_model=ImportJobOut, responses=problem_responses(401, 403, 404)
)
async def read_import(import_id: uuid.UUID, actor: Reader, ctx: Ctx) -> Response:
    async with ctx.db.transaction() as session:
        job = await jobs.get_visible(session, actor, import_id)
    return _job_response(job)


@router.get(
    "/imports/{import_id}/errors",
    response_model=RowErrorPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def import_errors(
    import_id: uuid.UUID,
    actor: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: str | None = None,
) -> RowErrorPage:
    """Refused rows in file order: row number, column, value and reason."""
    after = decode_cursor(cursor)
    if after is not None and not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(x, int) for x in after)
    ):
        raise invalid("query.cursor", "Invalid cursor; use next_cursor from a previous page.")
    async with ctx.db.transaction() as session:
        job = await jobs.get_visible(session, actor, import_id)
        rows = await _error_page(session, import_id, after, limit + 1)
    items = [jobs.error_out(job, r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor([last.row_number, last.seq])
    return RowErrorPage(items=items, next_cursor=nxt)


async def _error_page(session: Any, import_id: uuid.UUID, after: Any, limit: int) -> list[Any]:
    t = ImportRowError
    stmt = select(t).where(t.import_id == import_id)
    if after is not None:
        stmt = stmt.where(tuple_(t.row_number, t.seq) > tuple(after))
    stmt = stmt.order_by(t.row_number, t.seq).limit(limit)
    return list((await session.execute(stmt)).scalars())


@router.get(
    "/imports/{import_id}/errors.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 403, 404)},
)
async def import_errors_csv(import_id: uuid.UUID, actor: Reader, ctx: Ctx) -> StreamingResponse:
    """The error report as CSV (UTF-8 with BOM, so Excel reads it right). Values that would
    start a formula in a spreadsheet get a leading apostrophe."""
    async with ctx.db.transaction() as session:
        job = await jobs.get_visible(session, actor, import_id)
        session.expunge(job)

    async def rows() -> AsyncIterator[bytes]:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(["row", "line", "column", "value", "reason"])
        yield ("\ufeff" + buf.getvalue()).encode()
        after: Any = None
        while True:
            async with ctx.db.transaction() as session:
                page = await _error_page(session, import_id, after, 5000)
            if not page:
                return
            buf.seek(0)
            buf.truncate()
            for r in page:
                e = jobs.error_out(job, r)
                out.writerow(
                    [e.row, e.line, jobs.csv_safe(e.column), jobs.csv_safe(e.value),
                     jobs.csv_safe(e.reason)]
                )  # fmt: skip
            yield buf.getvalue().encode()
            after = [page[-1].row_number, page[-1].seq]

    name = f"import-{import_id}-errors.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/imports/{import_id}/retry",
    status_code=202,
    response_model=ImportJobOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def retry_import(
    import_id: uuid.UUID, actor: Writer, ctx: Ctx, request: Request, body: RetryIn | None = None
) -> Response:
    """Queue a failed import again. It resumes where it stopped; with a new `column_mapping`
    it starts over from the first row."""
    mapping = (
        jobs.check_mapping(body.column_mapping)
        if body and body.column_mapping is not None
        else None
    )
    async with ctx.db.transaction() as session:
        job = await jobs.get_visible(session, actor, import_id)
        await jobs.retry(session, job, mapping)
        await session.refresh(job)
        response = _job_response(job, 202)
    _poke(request)
    return response
