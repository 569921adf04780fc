"""Import files the way a Dinas spreadsheet looks, with known defects, for the bulk import.

`write_import_file` streams synthetic UMKM into CSV (comma or semicolon), XLSX or NDJSON with
Indonesian (or English) headers and values as they come from the field: money as
`Rp 1.500.000,00` / `1.500.000` / plain digits, dates `DD/MM/YYYY` or `DD-MM-YYYY`, names in
capitals, region names (sometimes instead of the code), legacy NPWP forms. A chosen share of rows
is INVALID (each with exactly one known defect) and a chosen share DUPLICATES an earlier valid row
(an exact repeat, or the same NIB with one changed field). The returned manifest says which.

Memory stays constant: records are generated in batches and written as they come; duplicates are
drawn from a bounded window of recent rows; only the manifest's lists grow (a few % of the rows).
"""

from __future__ import annotations

import csv
import random
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal, get_args

import orjson

from umkm_shared.identifiers import format_npwp_legacy
from umkm_shared.parsing import format_rupiah
from umkm_shared.reference import kbli, wilayah
from umkm_shared.synthetic._generate import (
    BLOCK,
    SyntheticUmkm,
    _today,
    generate_batches,
)
from umkm_shared.synthetic._regions import normalize_within
from umkm_shared.synthetic._vocab import STREETS

ImportFormat = Literal["csv", "csv-semicolon", "xlsx", "ndjson"]
HeaderStyle = Literal["id", "en"]
Encoding = Literal["utf-8", "utf-8-sig", "cp1252"]
Defect = Literal[
    "nik_bad_birth_date",
    "nik_wrong_length",
    "kbli_unknown",
    "village_unknown",
    "region_code_unknown",
    "capital_negative",
    "capital_not_a_number",
    "founded_on_malformed",
    "business_name_missing",
    "owner_name_missing",
    "nib_malformed",
    "npwp_malformed",
]
DuplicateKind = Literal["exact", "same_nib"]

IMPORT_FORMATS: tuple[str, ...] = get_args(ImportFormat)
ENCODINGS: tuple[str, ...] = get_args(Encoding)
DEFECTS: tuple[str, ...] = get_args(Defect)
# The field (column) each defect breaks.
DEFECT_FIELDS: dict[str, str] = {
    "nik_bad_birth_date": "owner_nik",
    "nik_wrong_length": "owner_nik",
    "kbli_unknown": "kbli",
    "village_unknown": "village",
    "region_code_unknown": "region_code",
    "capital_negative": "capital",
    "capital_not_a_number": "capital",
    "founded_on_malformed": "founded_on",
    "business_name_missing": "business_name",
    "owner_name_missing": "owner_name",
    "nib_malformed": "nib",
    "npwp_malformed": "npwp",
}

# Field keys in column order, and their headers.
FIELDS: tuple[str, ...] = (
    "business_name",
    "owner_name",
    "owner_nik",
    "nib",
    "npwp",
    "kbli",
    "address",
    "village",
    "district",
    "regency",
    "province",
    "region_code",
    "latitude",
    "longitude",
    "capital",
    "annual_sales",
    "workforce",
    "founded_on",
    "products",
    "certifications",
)
HEADERS: dict[str, dict[str, str]] = {
    "id": {
        "business_name": "Nama Usaha",
        "owner_name": "Nama Pemilik",
        "owner_nik": "NIK Pemilik",
        "nib": "NIB",
        "npwp": "NPWP",
        "kbli": "Kode KBLI",
        "address": "Alamat",
        "village": "Desa/Kelurahan",
        "district": "Kecamatan",
        "regency": "Kabupaten/Kota",
        "province": "Provinsi",
        "region_code": "Kode Wilayah",
        "latitude": "Latitude",
        "longitude": "Longitude",
        "capital": "Modal Usaha",
        "annual_sales": "Omzet per Tahun",
        "workforce": "Jumlah Tenaga Kerja",
        "founded_on": "Tanggal Berdiri",
        "products": "Produk",
        "certifications": "Sertifikat",
    },
    "en": {
        "business_name": "Business Name",
        "owner_name": "Owner Name",
        "owner_nik": "Owner NIK",
        "nib": "NIB",
        "npwp": "NPWP",
        "kbli": "KBLI Code",
        "address": "Address",
        "village": "Village",
        "district": "District",
        "regency": "Regency/City",
        "province": "Province",
        "region_code": "Region Code",
        "latitude": "Latitude",
        "longitude": "Longitude",
        "capital": "Capital (IDR)",
        "annual_sales": "Annual Sales (IDR)",
        "workforce": "Workforce",
        "founded_on": "Founded On",
        "products": "Products",
        "certifications": "Certifications",
    },
}
_COL = {name: i for i, name in enumerate(FIELDS)}

# Rendering shares (per row)
REGION_CODE_SHARE = 0.7  # rows that carry the Kode Wilayah; the rest must be resolved by name
_WINDOW = 512  # recent valid rows duplicates are drawn from
_BATCH = 4 * BLOCK

Cell = str | int | float | date | None


@dataclass(frozen=True)
class InvalidRow:
    row: int  # 1 = first data row (after the header)
    field: str  # field key (see FIELDS)
    column: str  # the header of that column in this file
    defect: str  # one of DEFECTS
    reason: str


@dataclass(frozen=True)
class DuplicateRow:
    row: int
    duplicate_of: int  # the earlier (valid, original) row it repeats
    kind: str  # "exact" or "same_nib"
    changed_field: str | None = None  # same_nib: the one field that differs
    changed_column: str | None = None


@dataclass
class ImportFileManifest:
    """What an import file contains; JSON-serialisable with `to_json()`."""

    path: str
    format: str
    encoding: str
    header_style: str
    headers: list[str]
    seed: int
    within: str | None
    as_of: str
    rows: int  # data rows written (header excluded)
    valid_rows: int  # rows without a defect (originals and duplicates)
    distinct_businesses: int  # valid original rows: what a correct import ends up with
    invalid_rows: list[InvalidRow] = field(default_factory=list)
    duplicate_rows: list[DuplicateRow] = field(default_factory=list)
    header_rows: int = 1  # rows before the data (0 for NDJSON)
    row_numbering: str = (
        "row 1 is the first data row: spreadsheet/CSV line = row + header_rows, NDJSON line = row"
    )
    coordinate_decimal_separator: str = "."
    bytes: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the manifest as JSON (default: next to the file, `<file>.manifest.json`)."""
        target = Path(path) if path is not None else Path(self.path + ".manifest.json")
        target.write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2))
        return target

    @classmethod
    def load(cls, path: str | Path) -> ImportFileManifest:
        data = orjson.loads(Path(path).read_bytes())
        data["invalid_rows"] = [InvalidRow(**x) for x in data["invalid_rows"]]
        data["duplicate_rows"] = [DuplicateRow(**x) for x in data["duplicate_rows"]]
        return cls(**data)


# --- region names ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    village: str
    district: str
    regency: str
    province: str


@cache
def _names(desa_code: str) -> _Names:
    table = wilayah()
    return _Names(
        table.name_of(desa_code) or "",
        table.name_of(desa_code[:8]) or "",
        table.name_of(desa_code[:5]) or "",
        table.name_of(desa_code[:2]) or "",
    )


@cache
def _resolvable(code: str) -> bool:
    """True when the names of `code` and its ancestors identify it uniquely, level by level
    (province by name, then the kabupaten/kota by name within it, ...): only then may a row
    leave the Kode Wilayah out."""
    table = wilayah()
    parent = code.rpartition(".")[0] or None
    if parent is not None and not _resolvable(parent):
        return False
    name = table.name_of(code) or ""
    found = table.search_by_name(name, level=code.count(".") + 1, within=parent)
    return [r.code for r in found] == [code]


def _regency_variant(name: str, r: random.Random) -> str:
    u = r.random()
    if name.startswith("Kabupaten ") and not name.startswith("Kabupaten Administrasi "):
        core = name.removeprefix("Kabupaten ")
        if u < 0.40:
            return name
        if u < 0.60:
            return f"Kab. {core}"
        if u < 0.80:
            return f"KAB. {core.upper()}"
        return name.upper()
    return name.upper() if u < 0.3 else name


@cache
def _unknown_village(desa_code: str) -> str:
    """A desa name that does not exist in the desa's kecamatan."""
    table = wilayah()
    base = table.name_of(desa_code) or "Desa"
    for suffix in ("Baru Permai", "Indah Jaya", "Sejahtera Makmur", "Mulya Abadi Raya"):
        candidate = f"{base} {suffix}"
        if not table.search_by_name(candidate, level=4, within=desa_code[:8]):
            return candidate
    return "Tidak Diketahui Xyz"  # pragma: no cover


@cache
def _unknown_kbli(code: str) -> str:
    table = kbli()
    for digit in "0123456789":
        candidate = code[:4] + digit
        if not table.exists(candidate):
            return candidate
    return "99999"


# --- rendering ------------------------------------------------------------------------------


def _money(amount: int, r: random.Random, typed: bool) -> Cell:
    u = r.random()
    if typed and u < 0.5:
        return amount
    if u < 0.25 or (typed and u < 0.6):
        return f"{format_rupiah(amount)},00"
    if u < 0.55:
        return f"{amount:,}".replace(",", ".")
    if u < 0.85:
        return str(amount)
    if u < 0.95:
        return format_rupiah(amount).replace(" ", "")
    return f"{format_rupiah(amount)},-"


def _date(day: date, r: random.Random, typed: bool) -> Cell:
    u = r.random()
    if typed and u < 0.4:
        return day
    if u < 0.5:
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    if u < 0.9:
        return f"{day.day:02d}-{day.month:02d}-{day.year}"
    return f"{day.day}/{day.month}/{day.year}"


def _certificates(rec: SyntheticUmkm) -> str:
    parts = []
    for cert in rec.certifications:
        text = f"Halal {cert.number}" if cert.kind == "halal" else cert.number
        if cert.valid_until is not None:
            v = cert.valid_until
            text += f" s.d. {v.day:02d}/{v.month:02d}/{v.year}"
        parts.append(text)
    return "; ".join(parts)


def _npwp(npwp: str | None, r: random.Random) -> str:
    if npwp is None:
        return ""
    if npwp[0] == "0":  # an entity: the legacy 15-digit forms are still everywhere
        u = r.random()
        if u < 0.4:
            return format_npwp_legacy(npwp)
        if u < 0.55:
            return npwp[1:]
    return npwp


def _render(rec: SyntheticUmkm, r: random.Random, typed: bool, comma: bool) -> list[Cell]:
    rand = r.random
    names = _names(rec.village_code)
    code = rec.village_code
    if rand() >= REGION_CODE_SHARE and _resolvable(code):
        region_code = ""
    else:
        region_code = code if rand() < 0.6 else code.replace(".", "")
    nik = rec.owner_nik
    if rand() < 0.02:
        nik = f"{nik[:4]} {nik[4:8]} {nik[8:12]} {nik[12:]}"
    if rec.latitude is None or rec.longitude is None:
        lat: Cell = ""
        lng: Cell = ""
    elif typed:
        lat, lng = rec.latitude, rec.longitude
    else:
        lat, lng = repr(rec.latitude), repr(rec.longitude)
        if comma:
            lat, lng = lat.replace(".", ","), lng.replace(".", ",")
    district = names.district.upper() if rand() < 0.25 else names.district
    if rand() < 0.1:
        district = f"Kec. {district}"
    return [
        rec.business_name.upper() if rand() < 0.15 else rec.business_name,
        rec.owner_name.upper() if rand() < 0.3 else rec.owner_name,
        nik,
        rec.nib or "",
        _npwp(rec.npwp, r),
        rec.kbli.code,
        rec.address,
        names.village.upper() if rand() < 0.25 else names.village,
        district,
        _regency_variant(names.regency, r),
        names.province.upper() if rand() < 0.3 else names.province,
        region_code,
        lat,
        lng,
        _money(rec.capital_idr, r, typed),
        "" if rand() < 0.05 else _money(rec.annual_sales_idr, r, typed),
        rec.workforce if typed else str(rec.workforce),
        _date(rec.founded_on, r, typed),
        ", ".join(rec.products),
        _certificates(rec),
    ]


def _break(row: list[Cell], rec: SyntheticUmkm, defect: str, r: random.Random, typed: bool) -> str:
    """Give `row` exactly one defect; returns the reason for the manifest."""
    nik = rec.owner_nik
    if defect == "nik_bad_birth_date":
        day, month = r.choice(
            (
                ("32", nik[8:10]),
                ("00", nik[8:10]),
                ("72", nik[8:10]),
                (nik[6:8], "13"),
                (nik[6:8], "00"),
                ("31", "02"),
            )
        )
        row[_COL["owner_nik"]] = nik[:6] + day + month + nik[10:]
        return f"NIK birth date digits DDMM={day}{month} are not a valid (day+40) date"
    if defect == "nik_wrong_length":
        broken = nik[:-1] if r.random() < 0.5 else nik + str(r.randrange(10))
        row[_COL["owner_nik"]] = broken
        return f"NIK has {len(broken)} digits, not 16"
    if defect == "kbli_unknown":
        code = _unknown_kbli(rec.kbli.code)
        row[_COL["kbli"]] = code
        return f"KBLI 2020 code {code} does not exist"
    if defect == "village_unknown":
        name = _unknown_village(rec.village_code)
        row[_COL["village"]] = name
        row[_COL["region_code"]] = ""
        return f"no desa/kelurahan named {name!r} in kecamatan {rec.village_code[:8]}"
    if defect == "region_code_unknown":
        code = f"{rec.village_code[:8]}.9{r.randrange(1000):03d}"
        row[_COL["region_code"]] = code if r.random() < 0.6 else code.replace(".", "")
        return f"wilayah code {code} does not exist"
    if defect == "capital_negative":
        amount = rec.capital_idr
        row[_COL["capital"]] = (
            -amount
            if typed and r.random() < 0.5
            else (f"-{format_rupiah(amount)}" if r.random() < 0.5 else f"-{amount}")
        )
        return "capital is negative"
    if defect == "capital_not_a_number":
        row[_COL["capital"]] = r.choice(("lima juta", "sekitar 10 jt", "10 jt an", "belum tahu"))
        return "capital is not a number of Rupiah"
    if defect == "founded_on_malformed":
        d = rec.founded_on
        row[_COL["founded_on"]] = r.choice(
            (
                f"31/02/{d.year}",
                f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
                f"{d.month:02d}-{d.year}",
                "00/00/0000",
                f"{d.year}/{d.month:02d}/{d.day:02d}",
            )
        )
        return "founding date is not a valid DD/MM/YYYY or DD-MM-YYYY date"
    if defect == "business_name_missing":
        row[_COL["business_name"]] = ""
        return "business name is empty"
    if defect == "owner_name_missing":
        row[_COL["owner_name"]] = ""
        return "owner name is empty"
    if defect == "nib_malformed":
        nib = rec.nib or "9120001234567"
        row[_COL["nib"]] = r.choice((nib[:-1], nib + "0", f"NIB-{nib}"))
        return "NIB is not 13 digits"
    if defect == "npwp_malformed":
        row[_COL["npwp"]] = r.choice(("12.345.678.9-012", "12345678901234", "0012345678"))
        return "NPWP is not 15 or 16 digits"
    raise ValueError(f"unknown defect {defect}")  # pragma: no cover


def _changed(row: list[Cell], rec: SyntheticUmkm, r: random.Random, typed: bool) -> str:
    """Change one field of a copy of an earlier row (an update of the same business)."""
    key = r.choice(("address", "capital", "annual_sales", "workforce"))
    if key == "address":
        new: Cell = f"Jl. {r.choice(STREETS)} No. {1 + r.randrange(250)}, RT 00{1 + r.randrange(9)}"
        if new == row[_COL["address"]]:
            new = f"{new}A"
    elif key == "capital":
        new = _money(rec.capital_idr + 500_000 * (1 + r.randrange(40)), r, typed)
    elif key == "annual_sales":
        new = _money(rec.annual_sales_idr + 1_000_000 * (1 + r.randrange(80)), r, typed)
    else:
        new = rec.workforce + 1 + r.randrange(3)
        new = new if typed else str(new)
    row[_COL[key]] = new
    return key


# --- writers -------------------------------------------------------------------------------


def _safe_text(text: str, encoding: str) -> str:
    """`text` made encodable in `encoding` (cp1252 lacks some characters: drop their accents)."""
    if encoding != "cp1252" or text.isascii():
        return text
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        folded = unicodedata.normalize("NFKD", text)
        return folded.encode("cp1252", "ignore").decode("cp1252")


class _Writer:
    def __init__(self, path: Path, fmt: str, encoding: str, headers: list[str]) -> None:
        self.fmt = fmt
        self.encoding = encoding
        self.headers = headers
        self._xlsx: Any = None
        self._file: IO[Any]
        if fmt == "xlsx":
            from openpyxl import Workbook

            self._xlsx = Workbook(write_only=True)
            self._sheet = self._xlsx.create_sheet("Data UMKM")
            self._sheet.append(headers)
            self._path = path
        elif fmt == "ndjson":
            self._file = path.open("wb")
        else:
            self._file = path.open("w", encoding=encoding, newline="")
            self._csv = csv.writer(self._file, delimiter=";" if fmt == "csv-semicolon" else ",")
            self._csv.writerow(headers)

    def write(self, rows: list[list[Cell]]) -> None:
        if self.fmt == "xlsx":
            append = self._sheet.append
            for row in rows:
                append([None if v == "" else v for v in row])
        elif self.fmt == "ndjson":
            headers = self.headers
            self._file.write(
                b"".join(
                    orjson.dumps(
                        {h: (None if v == "" else v) for h, v in zip(headers, row, strict=True)}
                    )
                    + b"\n"
                    for row in rows
                )
            )
        elif self.encoding == "cp1252":
            enc = self.encoding
            self._csv.writerows(
                [[_safe_text(v, enc) if isinstance(v, str) else v for v in row] for row in rows]
            )
        else:
            self._csv.writerows(rows)

    def close(self) -> None:
        if self._xlsx is not None:
            self._xlsx.save(self._path)
        else:
            self._file.close()


# --- the file --------------------------------------------------------------------------------


def _records(n: int, seed: int, within: str | None, as_of: date) -> Iterator[SyntheticUmkm]:
    for batch in generate_batches(n, BLOCK, seed=seed, within=within, as_of=as_of):
        yield from batch.records()


def write_import_file(
    path: str | Path,
    n: int,
    *,
    fmt: ImportFormat = "csv",
    seed: int = 0,
    invalid_share: float = 0.02,
    duplicate_share: float = 0.01,
    within: str | None = None,
    encoding: Encoding = "utf-8",
    header_style: HeaderStyle = "id",
    as_of: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportFileManifest:
    """Write an import file of `n` data rows and return its manifest (not saved: `.save()`).

    `fmt`: "csv" (comma), "csv-semicolon" (semicolon, and decimal commas in coordinates, as an
    Indonesian-locale Excel writes it), "xlsx" (openpyxl write-only: typed cells -- numbers,
    dates -- mixed with text, as real sheets are) or "ndjson" (one object per line keyed by the
    headers, all values text or null). `encoding` applies to CSV; XLSX and NDJSON are UTF-8.
    About `invalid_share * n` rows get one defect each and `duplicate_share * n` rows repeat an
    earlier valid row; the counts are exact up to rounding. `progress(rows_done, n)` is called
    after each internal batch. Deterministic for the same arguments.
    """
    if fmt not in IMPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(IMPORT_FORMATS)})")
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r} (known: {', '.join(ENCODINGS)})")
    if fmt in ("xlsx", "ndjson") and encoding != "utf-8":
        raise ValueError(f"{fmt} files are always UTF-8; encoding applies to CSV only")
    if header_style not in HEADERS:
        raise ValueError(f"unknown header style {header_style!r} (known: id, en)")
    if not (
        0 <= invalid_share <= 1
        and 0 <= duplicate_share <= 1
        and invalid_share + duplicate_share <= 1
    ):
        raise ValueError("invalid_share and duplicate_share must be in [0, 1] and sum to <= 1")
    if n < 0:
        raise ValueError("n must not be negative")
    started = time.perf_counter()
    target = Path(path)
    day = as_of or _today()
    within = normalize_within(within)
    labels = HEADERS[header_style]
    headers = [labels[f] for f in FIELDS]
    typed = fmt == "xlsx"
    comma = fmt == "csv-semicolon"
    r = random.Random(f"umkm-import-file/{seed}")
    records = _records(n, seed, within, day)  # at most n records are ever needed
    manifest = ImportFileManifest(
        path=str(target),
        format=fmt,
        encoding=encoding,
        header_style=header_style,
        headers=headers,
        seed=seed,
        within=within,
        as_of=day.isoformat(),
        rows=0,
        valid_rows=0,
        distinct_businesses=0,
        header_rows=0 if fmt == "ndjson" else 1,
        coordinate_decimal_separator="," if comma else ".",
    )
    recent: deque[tuple[int, list[Cell], SyntheticUmkm]] = deque(maxlen=_WINDOW)
    recent_nib: deque[tuple[int, list[Cell], SyntheticUmkm]] = deque(maxlen=_WINDOW)
    writer = _Writer(target, fmt, encoding, headers)
    done = invalid_total = duplicate_total = 0
    try:
        while done < n:
            size = min(_BATCH, n - done)
            # exact totals: after this batch, round(rows * share) of each kind
            k_invalid = round((done + size) * invalid_share) - invalid_total
            k_duplicate = min(
                round((done + size) * duplicate_share) - duplicate_total, size - k_invalid
            )
            kinds = (
                ["i"] * k_invalid + ["d"] * k_duplicate + ["v"] * (size - k_invalid - k_duplicate)
            )
            r.shuffle(kinds)
            rows: list[list[Cell]] = []
            for kind in kinds:
                row_no = done + len(rows) + 1
                if kind == "d" and recent:
                    use_nib = recent_nib and r.random() < 0.5
                    original_no, original, rec = r.choice(recent_nib if use_nib else recent)
                    row = list(original)
                    if use_nib:
                        key = _changed(row, rec, r, typed)
                        manifest.duplicate_rows.append(
                            DuplicateRow(row_no, original_no, "same_nib", key, labels[key])
                        )
                    else:
                        manifest.duplicate_rows.append(DuplicateRow(row_no, original_no, "exact"))
                    duplicate_total += 1
                    manifest.valid_rows += 1
                    rows.append(row)
                    continue
                rec = next(records)
                row = _render(rec, r, typed, comma)
                if kind == "i":
                    defect = r.choice(DEFECTS)
                    reason = _break(row, rec, defect, r, typed)
                    key = DEFECT_FIELDS[defect]
                    manifest.invalid_rows.append(
                        InvalidRow(row_no, key, labels[key], defect, reason)
                    )
                    invalid_total += 1
                else:  # a valid original (also when a duplicate had nothing to repeat yet)
                    manifest.valid_rows += 1
                    manifest.distinct_businesses += 1
                    recent.append((row_no, row, rec))
                    if rec.nib:
                        recent_nib.append((row_no, row, rec))
                rows.append(row)
            writer.write(rows)
            done += size
            if progress is not None:
                progress(done, n)
    finally:
        writer.close()
    manifest.rows = done
    manifest.bytes = target.stat().st_size
    manifest.seconds = round(time.perf_counter() - started, 3)
    return manifest
