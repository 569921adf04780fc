"""Import files as streams of raw rows, whatever their shape.

- Format: XLSX (a zip with a workbook), NDJSON (first character `{`) or CSV; other files are
  refused with the reason (old XLS, UTF-16 text, PDF, images, binary data).
- CSV: comma, semicolon, tab or pipe, found by trying each on the first lines and keeping the one
  that yields the most known headers; UTF-8 with or without BOM, else Windows-1252 (decided over
  the whole file while it is uploaded, see upload.py).
- The header row is the first of the first 20 rows with at least 3 known headers, so one or two
  title rows above it ("DATA UMKM KOTA BANDUNG 2025") are fine.
- Rows are numbered from 1 = the first row after the header; blank rows keep their number (so
  numbers match the spreadsheet) and come out as None. Memory stays flat: rows are read lazily
  and one overlong field or line is refused instead of buffered.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any

import orjson

from .columns import header_score

HEADER_SEARCH_ROWS = 20
MIN_HEADER_SCORE = 3
DELIMITERS = (",", ";", "\t", "|")

Cell = Any
RawRow = list[Cell] | str | None  # cells, a reason the row could not be read, or blank


class FileRejected(ValueError):
    """The file is not something we can import; the message says why (and what to do)."""


# --- sniffing -------------------------------------------------------------------------------


def sniff_format(head: bytes, path: Path | None = None) -> str:
    """csv, xlsx or ndjson from the first bytes (and the zip directory for XLSX)."""
    if head.startswith(b"PK\x03\x04"):
        if path is not None:
            try:
                with zipfile.ZipFile(path) as z:
                    names = set(z.namelist())
            except zipfile.BadZipFile as e:
                raise FileRejected(f"a damaged zip/XLSX file: {e}") from e
            if "xl/workbook.xml" not in names:
                raise FileRejected("a zip archive, not an XLSX workbook")
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected(
            "an Excel 97-2003 (.xls) workbook: save it as XLSX or CSV (UTF-8) and upload again"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected("UTF-16 text: save it as CSV UTF-8 (or Windows-1252) and upload again")
    if head.startswith(b"%PDF"):
        raise FileRejected("a PDF document: export the data as CSV or XLSX")
    for magic, what in ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                        (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"),
                        (b"7z\xbc\xaf", "a 7-Zip archive")):  # fmt: skip
        if head.startswith(magic):
            raise FileRejected(f"{what}, not a CSV, XLSX or NDJSON file")
    if b"\x00" in head:
        raise FileRejected("binary data, not a CSV, XLSX or NDJSON file")
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if not text:
        raise FileRejected("the file is empty")
    if text.startswith(b"{"):
        return "ndjson"
    if text.startswith(b"["):
        raise FileRejected("a JSON array: send one JSON object per line (NDJSON) instead")
    return "csv"


class EncodingSniffer:
    """Fed the upload chunk by chunk: is the whole file valid UTF-8 (BOM or not)?"""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.utf8 = True
        self.bom: bool | None = None

    def feed(self, data: bytes) -> None:
        if self.bom is None and data:
            self.bom = data.startswith(codecs.BOM_UTF8)
        if self.utf8:
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError:
                self.utf8 = False

    def result(self) -> str:
        if self.utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False
        if self.utf8:
            return "utf-8-sig" if self.bom else "utf-8"
        return "cp1252"


def sniff_encoding(path: Path) -> str:
    sniffer = EncodingSniffer()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            sniffer.feed(block)
    return sniffer.result()


# --- readers --------------------------------------------------------------------------------


@dataclass
class Opened:
    """A file positioned after its header row."""

    headers: list[str]
    header_row: int  # 1-based row of the file holding the headers (0: NDJSON, no header row)
    rows: Iterator[RawRow]  # data rows, from row 1
    position: Any  # () -> bytes read so far (approximate), or None
    close: Any
    delimiter: str | None = None
    encoding: str | None = None
    extra: dict[str, Any] | None = None


def _blank(row: list[Cell] | tuple[Cell, ...]) -> bool:
    for c in row:
        if c is not None and (not isinstance(c, str) or c.strip()):
            return False
    return True


def _find_header(head: list[list[Cell]]) -> int:
    best, best_score = -1, 0
    for i, row in enumerate(head):
        score = header_score(row)
        if score >= MIN_HEADER_SCORE:
            return i
        if score > best_score:
            best, best_score = i, score
    if best >= 0 and best_score >= 2:
        return best
    raise FileRejected(
        "no header row found in the first 20 rows: the file needs a row of column names "
        "such as 'Nama Usaha', 'NIK Pemilik', 'Kode KBLI' (see GET /v1/imports/columns)"
    )


def open_file(
    path: Path,
    fmt: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    max_field_chars: int = 1_000_000,
) -> Opened:
    if fmt == "csv":
        return _open_csv(path, encoding, delimiter, max_field_chars)
    if fmt == "xlsx":
        return _open_xlsx(path, sheet)
    if fmt == "ndjson":
        return _open_ndjson(path, max_field_chars)
    raise FileRejected(f"unknown format {fmt!r}")


def _csv_rows(reader: Iterator[list[str]]) -> Iterator[RawRow]:
    for row in reader:
        yield None if not row or _blank(row) else row


def _open_csv(path: Path, encoding: str | None, delimiter: str | None, max_field: int) -> Opened:
    encoding = encoding or sniff_encoding(path)
    csv.field_size_limit(max_field)
    with path.open("rb") as f:
        sample = f.read(256 * 1024)
    try:
        text = sample.decode(encoding, errors="strict" if len(sample) < 256 * 1024 else "ignore")
    except UnicodeDecodeError as e:
        raise FileRejected(f"the file is not valid {encoding}: {e}") from e
    if not text.strip():
        raise FileRejected("the file is empty")
    if delimiter is None:
        scored = []
        for d in DELIMITERS:
            lines = list(islice(csv.reader(io.StringIO(text), delimiter=d), HEADER_SEARCH_ROWS))
            scored.append(
                (max((header_score(r) for r in lines), default=0), -DELIMITERS.index(d), d)
            )
        delimiter = max(scored)[2]
    raw = path.open("rb")
    stream = io.TextIOWrapper(raw, encoding=encoding, newline="", errors="strict")
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        head = list(islice(reader, HEADER_SEARCH_ROWS))
    except csv.Error as e:
        stream.close()
        raise FileRejected(f"not a readable CSV file: {e}") from e
    except UnicodeDecodeError as e:
        stream.close()
        raise FileRejected(f"the file is not valid {encoding}: {e}") from e
    try:
        h = _find_header(head)
    except FileRejected:
        stream.close()
        raise
    rows = chain(_csv_rows(iter(head[h + 1 :])), _csv_rows(reader))
    return Opened(
        headers=[c.strip() for c in head[h]],
        header_row=h + 1,
        rows=rows,
        position=raw.tell,
        close=stream.close,
        delimiter=delimiter,
        encoding=encoding,
    )


def _open_xlsx(path: Path, sheet: str | None) -> Opened:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a broken workbook
        raise FileRejected(f"not a readable XLSX workbook: {e}") from e
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise FileRejected(f"no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})")
            ws = wb[sheet]
        else:
            ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        head = [list(r) for r in islice(it, HEADER_SEARCH_ROWS)]
        if not head or all(_blank(r) for r in head):
            raise FileRejected(f"sheet {ws.title!r} is empty")
        h = _find_header(head)
    except Exception:
        wb.close()
        raise

    def rows() -> Iterator[RawRow]:
        for r in chain(head[h + 1 :], it):
            yield None if _blank(r) else list(r)

    headers = [str(c).strip() if c is not None else "" for c in head[h]]
    return Opened(
        headers=headers,
        header_row=h + 1,
        rows=rows(),
        position=None,
        close=wb.close,
        extra={"sheet": ws.title},
    )


def _open_ndjson(path: Path, max_line: int) -> Opened:
    f: IO[bytes] = path.open("rb")
    keys: dict[str, int] = {}
    headers: list[str] = []
    first: list[RawRow] = []

    def read_lines() -> Iterator[RawRow]:
        while True:
            line = f.readline(max_line + 1)
            if not line:
                return
            if len(line) > max_line and not line.endswith(b"\n"):
                while chunk := f.readline(1 << 20):  # skip the rest of the overlong line
                    if chunk.endswith(b"\n"):
                        break
                yield f"line longer than {max_line} bytes"
                continue
            stripped = line.strip().removeprefix(codecs.BOM_UTF8)
            if not stripped:
                yield None
                continue
            try:
                obj = orjson.loads(stripped)
            except orjson.JSONDecodeError as e:
                yield f"not valid JSON: {e}"
                continue
            if not isinstance(obj, dict):
                yield f"a JSON {type(obj).__name__}, not an object"
                continue
            row: list[Cell] = [None] * len(headers)
            for k, v in obj.items():
                i = keys.get(k)
                if i is None:
                    continue  # a key the first object did not have: not mapped
                if isinstance(v, dict | list):
                    v = orjson.dumps(v).decode()
                row[i] = v
            yield row

    # the header is the key set of the first object
    lines = read_lines()
    probe: Iterator[RawRow] = iter(())
    try:
        while True:
            pos = f.tell()
            line = f.readline(max_line + 1)
            if not line:
                raise FileRejected("no JSON object in the file")
            stripped = line.strip().removeprefix(codecs.BOM_UTF8)
            if not stripped:
                first.append(None)
                continue
            try:
                obj = orjson.loads(stripped)
            except orjson.JSONDecodeError as e:
                raise FileRejected(f"line {len(first) + 1} is not valid JSON: {e}") from e
            if not isinstance(obj, dict):
                raise FileRejected(f"line {len(first) + 1} is not a JSON object")
            for k in obj:
                keys[k] = len(headers)
                headers.append(k)
            f.seek(pos)
            break
    except Exception:
        f.close()
        raise
    probe = chain(first, lines)
    return Opened(
        headers=headers, header_row=0, rows=probe, position=f.tell, close=f.close,
        encoding="utf-8",
    )  # fmt: skip
