"""Export of a region's UMKM for Dinas systems: CSV and XLSX, with the search filters.

- Scoped like search: a Dinas exports its wilayah only (403 for a wilayah outside it).
- Constant memory: rows are read in keyset batches of `BATCH` (each batch its own short read,
  so a slow download holds no transaction open); CSV is streamed batch by batch, XLSX is written
  by openpyxl's write-only mode (rows go to a temporary file as they come, strings inline) and
  the finished file is streamed in chunks and deleted.
- Indonesian headers as in the import files (Nama Usaha, NIK Pemilik, ...), plus the record's
  id, status and version for systems that sync. The owner's NIK is always masked.
- Spreadsheet-formula injection: a text cell starting with = + - @ tab or CR gets a leading
  apostrophe (in both formats); numbers are written as numbers.
- CSV is UTF-8 with a byte-order mark so Excel detects the encoding (names with accents).
- `X-Change-Feed-Since`: a change-feed cursor taken before the first row is read. Load the export,
  then poll `GET /v1/changes?since=<it>`: every change made during or after the export follows
  (some may repeat what the file already has; apply by id and version).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from umkm_shared import reference
from umkm_shared.auth import Actor
from umkm_shared.pagination import encode_cursor
from umkm_shared.web import problem_responses

from .context import RegistryContext
from .endpoints import Ctx, Filters, Reader
from .models import Umkm
from .repository import SearchFilters, UmkmRepository

router = APIRouter(prefix="/v1", tags=["export"])

BATCH = 1000
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_ROWS = 1_048_576  # per sheet, header included: more rows continue on a new sheet
_CHUNK = 64 * 1024

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_CERT_LABELS = {
    "halal": "Halal",
    "sni": "SNI",
    "pirt": "PIRT",
    "bpom": "BPOM",
    "iso9001": "ISO 9001",
    "haccp": "HACCP",
    "organic": "Organik",
    "other": "Lainnya",
}

Cell = str | int | float | date | None


def safe_text(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV/formula injection, OWASP): prefix an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _region_name(code: str) -> str:
    return reference.wilayah().name_of(code) or ""


def _certificates(certs: list[dict[str, Any]]) -> str:
    parts = []
    for c in certs:
        text_ = " ".join(
            p for p in (_CERT_LABELS.get(c.get("kind") or "", c.get("kind")), c.get("number")) if p
        )
        if c.get("valid_until"):
            until = date.fromisoformat(c["valid_until"])
            text_ += f" s.d. {until.day:02d}/{until.month:02d}/{until.year}"
        parts.append(text_)
    return "; ".join(parts)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


# (header, value of a record). Headers of the import mapping first, then sync columns.
COLUMNS: tuple[tuple[str, Callable[[Umkm], Cell]], ...] = (
    ("ID UMKM", lambda r: str(r.id)),
    ("Nama Usaha", lambda r: r.business_name),
    ("Nama Pemilik", lambda r: r.owner_name),
    ("NIK Pemilik", lambda r: r.owner_nik_masked),
    ("NIB", lambda r: r.nib),
    ("NPWP", lambda r: r.npwp),
    ("Kode KBLI", lambda r: r.kbli_code),
    ("KBLI Lainnya", lambda r: ", ".join(k["code"] for k in r.kbli_others) or None),
    ("Alamat", lambda r: r.address),
    ("Kode Wilayah", lambda r: r.village_code),
    ("Desa/Kelurahan", lambda r: _region_name(r.village_code)),
    ("Kecamatan", lambda r: _region_name(r.district_code)),
    ("Kabupaten/Kota", lambda r: _region_name(r.regency_code)),
    ("Provinsi", lambda r: _region_name(r.province_code)),
    ("Latitude", lambda r: r.latitude),
    ("Longitude", lambda r: r.longitude),
    ("Lokasi Perkiraan", lambda r: "Ya" if r.location_approximate else "Tidak"),
    ("Modal Usaha", lambda r: r.capital_idr),
    ("Omzet per Tahun", lambda r: r.annual_sales_idr),
    ("Jumlah Tenaga Kerja", lambda r: r.workforce),
    ("Tanggal Berdiri", lambda r: r.founded_on),
    ("Produk", lambda r: ", ".join(r.products) or None),
    ("Sertifikat", lambda r: _certificates(r.certifications) or None),
    ("Skala", lambda r: r.scale),
    ("Status", lambda r: r.status),
    ("Digabung ke", lambda r: str(r.merged_into) if r.merged_into else None),  # type: ignore[attr-defined]
    ("Versi", lambda r: r.version),
    ("Terdaftar", lambda r: _iso(r.created_at)),
    ("Diperbarui", lambda r: _iso(r.updated_at)),
)
HEADERS: tuple[str, ...] = tuple(h for h, _ in COLUMNS)


def record_values(row: Umkm) -> list[Cell]:
    """One record as typed cell values, text already made formula-safe."""
    out: list[Cell] = []
    for _, get in COLUMNS:
        value = get(row)
        out.append(safe_text(value) if isinstance(value, str) else value)
    return out


def csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- reading --------------------------------------------------------------------------------

# The newest position of the change feed that a reader may already be served (the feed serves
# only rows of transactions older than every running one; see ChangeRepository).
_FEED_POSITION = text(
    """
    SELECT txid, seq FROM umkm_changes
     WHERE txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
     ORDER BY txid DESC, seq DESC
     LIMIT 1
    """
)


async def feed_position(session: AsyncSession) -> str:
    row = (await session.execute(_FEED_POSITION)).first()
    return encode_cursor([int(row.txid), int(row.seq)] if row else [0, 0])


async def batches(
    ctx: RegistryContext, filters: SearchFilters, scope: str | None, size: int = BATCH
) -> AsyncIterator[list[Umkm]]:
    """The matching records in id order, `size` at a time, each batch read in its own short
    session (keyset on id: no offset, no long-held snapshot)."""
    after = None
    while True:
        async with ctx.db.session() as session:
            rows = await UmkmRepository(session).search(
                filters, scope=scope, after=after, limit=size
            )
        if rows:
            yield rows
        if len(rows) < size:
            return
        after = rows[-1].id


async def _prepare(
    ctx: RegistryContext, actor: Actor, filters: SearchFilters
) -> tuple[str | None, str]:
    """Check access (403 for a wilayah outside the caller's) and take the feed position."""
    async with ctx.db.transaction() as session:
        service = ctx.service(session, actor)
        await service.search(filters, None, 0)  # refuses a wilayah outside the caller's
        return service.scope, await feed_position(session)


def _filename(filters: SearchFilters, scope: str | None, ext: str) -> str:
    region = filters.wilayah or scope or "indonesia"
    return f"umkm-{region}-{datetime.now(UTC):%Y%m%d}.{ext}"


def _headers(filename: str, since: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Change-Feed-Since": since,
        "Cache-Control": "no-store",
    }


# --- CSV ------------------------------------------------------------------------------------


async def csv_stream(
    ctx: RegistryContext, filters: SearchFilters, scope: str | None, delimiter: str = ","
) -> AsyncIterator[bytes]:
    """The CSV file in chunks: BOM and header row, then one chunk per batch."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADERS)
    yield ("\ufeff" + buf.getvalue()).encode("utf-8")
    async for rows in batches(ctx, filters, scope):
        buf.seek(0)
        buf.truncate()
        writer.writerows([csv_cell(v) for v in record_values(r)] for r in rows)
        yield buf.getvalue().encode("utf-8")


@router.get(
    "/exports/umkm.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with BOM"},
        **problem_responses(401, 403, 422),
    },
)
async def export_csv(
    actor: Reader,
    ctx: Ctx,
    filters: Filters,
    delimiter: Annotated[
        Literal["comma", "semicolon"],
        Query(description="semicolon suits Excel set to Indonesian regional settings"),
    ] = "comma",
) -> StreamingResponse:
    """The UMKM of your wilayah (same filters as search, default `status=active`) as CSV, in id
    order. Indonesian headers, masked NIK, formula-safe cells, UTF-8 with BOM. The
    `X-Change-Feed-Since` header is where to start polling `/v1/changes` afterwards."""
    scope, since = await _prepare(ctx, actor, filters)
    return StreamingResponse(
        csv_stream(ctx, filters, scope, ";" if delimiter == "semicolon" else ","),
        media_type="text/csv; charset=utf-8",
        headers=_headers(_filename(filters, scope, "csv"), since),
    )


# --- XLSX -----------------------------------------------------------------------------------


class _XlsxWriter:
    """openpyxl write-only workbook; rows go to temporary files as appended (constant memory)."""

    def __init__(self) -> None:
        from openpyxl import Workbook

        self.workbook = Workbook(write_only=True)
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self.sheets += 1
        self.sheet = self.workbook.create_sheet(
            "UMKM" if self.sheets == 1 else f"UMKM {self.sheets}"
        )
        self.sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for title in HEADERS:
            cell = WriteOnlyCell(self.sheet, value=title)
            cell.font = bold
            header.append(cell)
        self.sheet.append(header)
        self.rows = 1

    def append(self, rows: Sequence[Sequence[Cell]]) -> None:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        for values in rows:
            if self.rows >= XLSX_MAX_ROWS:
                self._new_sheet()
            self.sheet.append(
                [ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values]
            )
            self.rows += 1

    def save(self, path: str) -> None:
        self.workbook.save(path)


async def build_xlsx(ctx: RegistryContext, filters: SearchFilters, scope: str | None) -> str:
    """Write the workbook to a temporary file; returns its path (the caller deletes it)."""
    fd, path = tempfile.mkstemp(prefix="umkm-export-", suffix=".xlsx")
    os.close(fd)
    try:
        writer = await asyncio.to_thread(_XlsxWriter)
        async for rows in batches(ctx, filters, scope):
            values = [record_values(r) for r in rows]
            await asyncio.to_thread(writer.append, values)
        await asyncio.to_thread(writer.save, path)
    except BaseException:
        _remove(path)
        raise
    return path


async def file_chunks(path: str) -> AsyncIterator[bytes]:
    """The file in chunks, deleted afterwards (also when the client goes away)."""
    try:
        with open(path, "rb") as f:  # noqa: ASYNC230 - reads run in a thread below
            while chunk := await asyncio.to_thread(f.read, _CHUNK):
                yield chunk
    finally:
        _remove(path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@router.get(
    "/exports/umkm.xlsx",
    response_class=StreamingResponse,
    responses={
        200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "Excel workbook"},
        **problem_responses(401, 403, 422),
    },
)
async def export_xlsx(actor: Reader, ctx: Ctx, filters: Filters) -> StreamingResponse:
    """The UMKM of your wilayah (same filters as search) as an Excel workbook, in id order; same
    columns and rules as the CSV, numbers and dates as typed cells. Over 1,048,575 rows the
    list continues on sheets "UMKM 2", "UMKM 3", ..."""
    scope, since = await _prepare(ctx, actor, filters)
    path = await build_xlsx(ctx, filters, scope)
    return StreamingResponse(
        file_chunks(path),
        media_type=XLSX_MEDIA_TYPE,
        headers=_headers(_filename(filters, scope, "xlsx"), since)
        | {"Content-Length": str(os.path.getsize(path))},
        background=BackgroundTask(_remove, path),  # if the body was never sent
    )
