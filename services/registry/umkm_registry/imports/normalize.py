"""Row values as they come from a Dinas file -> the registry's stored values, or row errors.

Runs in the parse worker processes (see worker.py), one chunk of raw rows at a time. The rules are
the API's: the same shared parsers (`umkm_shared.parsing`, `umkm_shared.identifiers`), the same
limits as `umkm_registry.schemas.UmkmCreate` and the same derived fields as
`umkm_registry.domain` (wilayah parts, search text, kecamatan-centre location, PP 7/2021 scale).
`UmkmCreate` itself is not run per row by default (it roughly doubles the parse cost); with
`strict=True` it is, and the tests import the same files both ways and compare the outcome.

Each valid row becomes one tuple of `STAGE_COLUMNS` (the NIK already encrypted, hashed and
masked); each invalid row becomes error tuples `(row, seq, column header, value, reason)`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
import uuid_utils
from pydantic import ValidationError

from umkm_shared import reference
from umkm_shared.crypto import NikVault
from umkm_shared.identifiers import (
    IdentifierError,
    mask_nik,
    parse_kbli,
    parse_nib,
    parse_nik,
    parse_npwp,
    parse_wilayah,
)
from umkm_shared.parsing import ParseError, normalize_name, parse_indonesian_date, parse_rupiah
from umkm_shared.reference import LEVEL_NAMES, fold_name
from umkm_shared.scale import SCALE_BANDS
from umkm_shared.text import check_text, escape_controls

from .. import domain
from ..schemas import LAT_RANGE, LNG_RANGE, UmkmCreate
from .columns import BY_KEY

# Limits of UmkmCreate (schemas.py); the equivalence tests fail if these drift apart.
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_CAPITAL = 10**15
MAX_SALES = 10**16
MAX_WORKFORCE = 1_000_000
MAX_PRODUCTS = 100
MAX_PRODUCT = 200
MAX_CERTS = 50
MAX_CERT_NUMBER = 100
VALUE_CHARS = 200  # values quoted in the error report are cut to this

STAGE_COLUMNS: tuple[str, ...] = (
    "row_no", "stage_key", "nat_key", "bucket", "id", "ev_id", "ev2_id", "sh_id",
    "province_code", "regency_code", "district_code", "village_code",
    "business_name", "business_name_search", "owner_name",
    "owner_nik_encrypted", "owner_nik_hash", "owner_nik_masked",
    "nib", "npwp", "kbli_version", "kbli_code", "address",
    "latitude", "longitude", "location_approximate", "coords_given",
    "capital_idr", "annual_sales_idr", "scale", "scale_basis", "workforce", "founded_on",
    "products", "certifications",
)  # fmt: skip
BUCKETS = 65536  # merge batches are ranges of these (the first two bytes of the natural key)

Cell = str | int | float | bool | date | datetime | None
ErrorRow = tuple[int, int, str | None, str | None, str]


@dataclass(frozen=True)
class RowPlan:
    """What a parse worker needs to know about the job (picklable)."""

    index: Mapping[str, int]  # field -> position in a raw row
    headers: Mapping[str, str]  # field -> the header the file uses (for the error report)
    scope: str | None  # a Dinas's wilayah: rows outside it are rejected
    strict: bool = False

    def header(self, key: str) -> str:
        return self.headers.get(key) or BY_KEY[key].label


@dataclass
class StagedChunk:
    first_row: int
    last_row: int  # rows up to here are consumed (the resume point)
    bytes_pos: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    failed_rows: int = 0
    blank_rows: int = 0
    data_rows: int = 0


class RowError(Exception):
    def __init__(self, key: str | None, reason: str, value: Any = None) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason
        self.value = value


# --- per-process state ----------------------------------------------------------------------

_vault: NikVault | None = None


def init_process(settings: Any) -> None:
    """ProcessPoolExecutor initializer: the NIK vault and warm reference tables."""
    global _vault
    _vault = NikVault.from_settings(settings)
    reference.preload()


def use_vault(vault: NikVault) -> None:
    """For parsing in a thread of the service process (parse_workers = 0)."""
    global _vault
    _vault = vault


def normalize_chunk(
    plan: RowPlan, first_row: int, rows: Sequence[Sequence[Cell] | str | None], bytes_pos: int
) -> StagedChunk:
    """Normalise raw rows numbered from `first_row`; None is a blank row, a str a row the
    reader could not split (the reason)."""
    vault = _vault
    if vault is None:
        raise RuntimeError("normalize: no NIK vault (init_process or use_vault first)")
    out = StagedChunk(first_row, first_row + len(rows) - 1, bytes_pos)
    now_errors = out.errors
    for offset, raw in enumerate(rows):
        row_no = first_row + offset
        if raw is None:
            out.blank_rows += 1
            continue
        out.data_rows += 1
        if isinstance(raw, str):
            out.failed_rows += 1
            now_errors.append((row_no, 0, None, None, raw))
            continue
        errors: list[RowError] = []
        staged = _row(plan, vault, row_no, raw, errors)
        if staged is not None and plan.strict:
            staged = _strict(plan, vault, row_no, raw, staged, errors)
        if staged is None:
            out.failed_rows += 1
            for seq, e in enumerate(errors):
                now_errors.append((row_no, seq, _column(plan, e.key), _shown(e), e.reason))
        else:
            out.rows.append(staged)
    return out


def _column(plan: RowPlan, key: str | None) -> str | None:
    return plan.header(key) if key else None


def _shown(e: RowError) -> str | None:
    if e.value is None:
        return None
    text = e.value.isoformat() if isinstance(e.value, date) else str(e.value)
    if e.key == "owner_nik":  # UU PDP: no readable NIK in the report, valid or not
        text = mask_nik("".join(text.split()))
    text = escape_controls(text)  # PostgreSQL text cannot hold NUL
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


# --- cells ----------------------------------------------------------------------------------


def _text(v: Cell) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)


def _digits_cell(key: str, v: Cell, width: int = 0) -> str | None:
    """Identifier cells: spreadsheets store them as numbers, which drops leading zeros
    (restored to `width`) and, past 15 digits, the last digits (which cannot be restored)."""
    if isinstance(v, bool):
        raise RowError(key, f"{BY_KEY[key].label}: expected digits, got {v}", v)
    if isinstance(v, float):
        if not v.is_integer() or abs(v) >= 1e15:
            raise RowError(
                key,
                f"{BY_KEY[key].label} was stored as a number ({v!r}) and lost digits; "
                "format the column as text",
                v,
            )
        v = int(v)
    if isinstance(v, int):
        return str(v).zfill(width) if v >= 0 else str(v)
    return _text(v)


# --- regions --------------------------------------------------------------------------------

_code_cache: dict[tuple[str, str | None], tuple[str | None, str | None, str]] = {}
_level_cache: dict[tuple[int, str | None, str, str | None], tuple[str | None, str]] = {}
_CACHE_MAX = 100_000
# Caches of values that are mostly distinct (names) or bounded by the desa table (places) are
# kept smaller: the parse worker's memory counts towards the import's budget.
_SMALL_CACHE_MAX = 20_000


def _in_scope(code: str, scope: str | None) -> bool:
    return scope is None or code == scope or code.startswith(scope + ".")


def resolve_region(
    code: str | None,
    village: str | None,
    district: str | None,
    regency: str | None,
    province: str | None,
    scope: str | None,
) -> tuple[str | None, str | None, str]:
    """(desa code, None, "") or (None, field key at fault, reason).

    A Kode Wilayah decides (the desa name, when given, must be that desa's); without one the
    names are resolved level by level, each within the one above (per-level caches: a file
    repeats its provinces, kabupaten and kecamatan endlessly).
    """
    if code is not None:
        key = (code, village)
        hit = _code_cache.get(key)
        if hit is None:
            if len(_code_cache) >= _CACHE_MAX:
                _code_cache.clear()
            hit = _by_code(code, village)
            _code_cache[key] = hit
        return hit
    if village is None:
        return None, "village", "desa/kelurahan is empty and there is no Kode Wilayah"
    within: str | None = None
    for level, field_key, name in (
        (1, "province", province),
        (2, "regency", regency),
        (3, "district", district),
        (4, "village", village),
    ):
        if name is None:
            continue
        lkey = (level, within, name, scope)
        found = _level_cache.get(lkey)
        if found is None:
            if len(_level_cache) >= _CACHE_MAX:
                _level_cache.clear()
            found = _by_name(level, within, name, scope)
            _level_cache[lkey] = found
        if found[0] is None:
            return None, field_key, found[1]
        within = found[0]
    assert within is not None
    return within, None, ""


def _by_code(code: str, village: str | None) -> tuple[str | None, str | None, str]:
    table = reference.wilayah()
    try:
        desa = parse_wilayah(code, level=4)
    except IdentifierError as e:
        return None, "region_code", str(e)
    if village is not None:
        name = table.name_of(desa) or ""
        if village.casefold() != name.casefold() and fold_name(village) != fold_name(name):
            if desa not in {r.code for r in table.search_by_name(village, 4, desa[:8])}:
                return (
                    None,
                    "village",
                    (
                        f"Kode Wilayah {desa} is desa/kelurahan {name!r} "
                        f"(kecamatan {table.name_of(desa[:8])!r}), not {village!r}"
                    ),
                )
    return desa, None, ""


def _by_name(
    level: int, within: str | None, name: str, scope: str | None
) -> tuple[str | None, str]:
    table = reference.wilayah()
    found = table.search_by_name(name, level, within)
    where = f" in {table.name_of(within)} ({within})" if within else ""
    if not found:
        return None, f"no {LEVEL_NAMES[level]} named {name!r}{where}"
    if len(found) > 1 and scope is not None:
        # a Dinas file: the one candidate inside the Dinas's wilayah is the one it means
        # (a Dinas cannot import rows outside it anyway); several are still ambiguous
        mine = [r for r in found if _in_scope(r.code, scope) or scope.startswith(r.code + ".")]
        found = mine or found
    if len(found) > 1:
        shown = ", ".join(f"{r.name} ({r.code})" for r in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        return None, (
            f"{LEVEL_NAMES[level]} {name!r}{where} is ambiguous: {shown}{more}; "
            "add the Kode Wilayah or the higher-level region columns"
        )
    return found[0].code, ""


# --- certificates ---------------------------------------------------------------------------

_CERT_SPLIT = re.compile(r"[;\n|]")
_CERT_UNTIL = re.compile(
    r"(?:\s+|\s*[,(]\s*)(?:berlaku\s+)?(?:s\.?\s?d\.?|sd|sampai(?:\s+dengan)?|valid\s+until|"
    r"until|exp(?:ired|\.)?)\s*:?\s*(?P<date>[^()]+?)\)?\s*$",
    re.IGNORECASE,
)
_BPOM = re.compile(r"^(?:bpom|pom\s|md\s|ml\s|n[a-e]\d)", re.IGNORECASE)
_PIRT = re.compile(r"^(?:spp[\s-]?)?p[\s-]?irt\b", re.IGNORECASE)
_SNI = re.compile(r"^(?:sppt[\s-]?)?sni\b", re.IGNORECASE)


def _cert_kind(text: str) -> tuple[str, str | None]:
    low = text.casefold()
    if low.startswith("halal"):
        return "halal", text[5:].strip(" :-") or None
    if _PIRT.match(text):
        return "pirt", text
    if _BPOM.match(text):
        return "bpom", text
    if _SNI.match(text):
        return "sni", text
    if low.replace(" ", "").startswith("iso9001"):
        return "iso9001", text
    if low.startswith("haccp"):
        return "haccp", text
    if low.startswith(("organik", "organic")):
        return "organic", text
    return "other", text


def parse_certificates(text: str) -> list[dict[str, str | None]]:
    """`Halal ID3273... s.d. 01/01/2028; P-IRT 2063273010012-28` -> registry certifications."""
    certs: list[dict[str, str | None]] = []
    for part in _CERT_SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        valid_until: str | None = None
        m = _CERT_UNTIL.search(part)
        if m is not None and m.start() > 0:
            try:  # only a real date makes it a validity; else the words are the number's
                valid_until = parse_indonesian_date(m["date"].strip()).isoformat()
                part = part[: m.start()].strip()
            except ParseError:
                pass
        kind, number = _cert_kind(part)
        if number is not None and len(number) > MAX_CERT_NUMBER:
            raise RowError(
                "certifications", f"certificate number longer than {MAX_CERT_NUMBER}", part
            )
        certs.append({"kind": kind, "number": number, "valid_until": valid_until})
    if len(certs) > MAX_CERTS:
        raise RowError("certifications", f"more than {MAX_CERTS} certificates", text)
    return certs


# --- the row --------------------------------------------------------------------------------

_kbli_cache: dict[str, tuple[str | None, str]] = {}
_date_cache: dict[Any, tuple[date | None, str]] = {}
_KBLI_LEAD = re.compile(r"^(\d{2,5})(?:\s*[-:(/]\s*\D.*|\s+\D.*)?$", re.DOTALL)
_THOUSANDS = re.compile(r"^\d{1,3}(?:\.\d{3})+$")


def _kbli(v: Cell) -> str:
    text = _digits_cell("kbli", v)
    if text is None:
        raise RowError("kbli", "Kode KBLI is empty")
    hit = _kbli_cache.get(text)
    if hit is None:
        m = _KBLI_LEAD.match(text)  # "10794 - Industri tempe" -> 10794
        try:
            hit = (parse_kbli(m[1] if m else text, "2020").code, "")
        except IdentifierError as e:
            hit = (None, str(e))
        if len(_kbli_cache) < 20_000:
            _kbli_cache[text] = hit
    if hit[0] is None:
        raise RowError("kbli", hit[1], text)
    return hit[0]


def _date(v: Cell) -> date | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool | int | float):
        raise RowError("founded_on", f"{v!r} is a number, not a date: write DD/MM/YYYY", v)
    hit = _date_cache.get(v)
    if hit is None:
        try:
            d = parse_indonesian_date(v.strip() if isinstance(v, str) else v)
            if d > date.today():
                hit = (None, f"founding date {d.isoformat()} is in the future")
            elif d.year < 1900:
                hit = (None, f"founding date {d.isoformat()} is before 1900")
            else:
                hit = (d, "")
        except ParseError as e:
            hit = (None, str(e))
        if len(_date_cache) < 20_000:
            _date_cache[v] = hit
    if hit[0] is None:
        raise RowError("founded_on", hit[1], v)
    return hit[0]


_rupiah_cache: dict[str, int | str] = {}  # text -> amount, or the reason it is refused


def _money(key: str, v: Cell, limit: int) -> int | None:
    if v is None:
        return None
    if type(v) is str:
        # a file repeats its amounts ("Rp 25.000.000,-"): parse each distinct text once
        hit = _rupiah_cache.get(v)
        if hit is None:
            if not v.strip():
                return None
            try:
                hit = int(v) if v.isdigit() else parse_rupiah(v)
            except ParseError as e:
                hit = str(e)
            if len(_rupiah_cache) >= _SMALL_CACHE_MAX:
                _rupiah_cache.clear()
            _rupiah_cache[v] = hit
        if isinstance(hit, str):
            raise RowError(key, hit, v)
        amount: int = hit
    else:
        try:
            amount = parse_rupiah(v)  # type: ignore[arg-type]
        except ParseError as e:
            raise RowError(key, str(e), v) from None
    if amount > limit:
        raise RowError(key, f"amount {amount} is above {limit}", v)
    return amount


def _coordinate(key: str, v: Cell, bounds: tuple[float, float]) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        raise RowError(key, f"{v!r} is not a coordinate", v)
    if isinstance(v, int | float):
        number = float(v)
    elif not isinstance(v, str):
        raise RowError(key, f"{v!r} is not a decimal number of degrees", v)
    else:
        text = v.strip()
        if "," in text and "." not in text:  # decimal comma (Indonesian-locale Excel)
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            raise RowError(key, f"{v!r} is not a decimal number of degrees", v) from None
    if not math.isfinite(number) or not bounds[0] <= number <= bounds[1]:
        raise RowError(key, f"{number} is outside Indonesia ({bounds[0]} to {bounds[1]})", v)
    return number


def _workforce(v: Cell) -> int | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        raise RowError("workforce", f"{v!r} is not a number of workers", v)
    if isinstance(v, float):
        if not v.is_integer():
            raise RowError("workforce", f"{v!r} is not a whole number of workers", v)
        n = int(v)
    elif isinstance(v, int):
        n = v
    elif not isinstance(v, str):
        raise RowError("workforce", f"{v!r} is not a whole number of workers", v)
    else:
        text = v.strip()
        if _THOUSANDS.match(text):
            text = text.replace(".", "")
        if not text.isdigit():
            raise RowError("workforce", f"{v!r} is not a whole number of workers", v)
        n = int(text)
    if not 0 <= n <= MAX_WORKFORCE:
        raise RowError("workforce", f"{n} workers is outside 0 to {MAX_WORKFORCE}", v)
    return n


_name_cache: dict[str, str] = {}


def _name(key: str, v: Cell) -> str:
    text = _text(v)
    if text is None:
        raise RowError(key, f"{BY_KEY[key].label} is empty")
    if len(text) > MAX_NAME:
        raise RowError(key, f"longer than {MAX_NAME} characters ({len(text)})", text)
    name = _name_cache.get(text)
    if name is None:  # names repeat (owners' names, "Warung Bu Sri"): re-case each once
        name = normalize_name(text)
        if len(_name_cache) >= _SMALL_CACHE_MAX:
            _name_cache.clear()
        _name_cache[text] = name
    return name


# (limit of the band, scale) per basis, from umkm_shared.scale: `domain.scale_of` without the
# explanation text it builds (the strict-mode tests compare the two).
_BANDS_BY_CAPITAL = tuple((b.max_capital_idr, str(b.scale)) for b in SCALE_BANDS)
_BANDS_BY_SALES = tuple((b.max_annual_sales_idr, str(b.scale)) for b in SCALE_BANDS)


def scale_of(capital: int | None, sales: int | None) -> tuple[str, str]:
    """(scale, basis) under PP 7/2021, as `domain.scale_of` (capital when given, else sales)."""
    if capital is not None:
        amount, bands, basis = capital, _BANDS_BY_CAPITAL, "capital"
    elif sales is not None:
        amount, bands, basis = sales, _BANDS_BY_SALES, "sales"
    else:
        raise ValueError("classifying a business needs its capital or its annual sales")
    for limit, scale in bands:
        if amount <= limit:
            return scale, basis
    return "besar", basis


def _products(v: Cell) -> list[str] | None:
    text = _text(v)
    if text is None:
        return None
    items = [p.strip() for p in re.split(r"[;,\n]", text) if p.strip()]
    if len(items) > MAX_PRODUCTS:
        raise RowError("products", f"more than {MAX_PRODUCTS} products", text)
    for p in items:
        if len(p) > MAX_PRODUCT:
            raise RowError("products", f"a product name is longer than {MAX_PRODUCT}", p)
    return items or None


def _row(
    plan: RowPlan, vault: NikVault, row_no: int, raw: Sequence[Cell], errors: list[RowError]
) -> tuple[Any, ...] | None:
    index = plan.index
    width = len(raw)
    cells: dict[str, Cell] = {key: raw[i] for key, i in index.items() if i < width}
    cell = cells.get

    def attempt(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except RowError as e:
            errors.append(e)
        return None

    # The API refuses control characters in text (umkm_shared.text); so does the import. One
    # search over the row's text; only a row that has one is checked cell by cell.
    texts = [value for value in cells.values() if type(value) is str]
    try:
        check_text("".join(texts))
    except ValueError:
        for key in index:
            value = cell(key)
            if isinstance(value, str):
                try:
                    check_text(value)
                except ValueError as e:
                    errors.append(RowError(key, str(e), value))
    if errors:
        return None

    business_name = attempt(_name, "business_name", cell("business_name"))
    owner_name = attempt(_name, "owner_name", cell("owner_name"))

    nik = None
    raw_nik = cell("owner_nik")
    try:
        text = _digits_cell("owner_nik", raw_nik)
        if text is None:
            raise RowError("owner_nik", "NIK Pemilik is empty")
        nik = parse_nik(text)
    except RowError as e:
        errors.append(e)
    except IdentifierError as e:
        errors.append(RowError("owner_nik", str(e), raw_nik))

    nib = npwp = None
    raw_nib = cell("nib")
    try:
        text = _digits_cell("nib", raw_nib, 13)
        nib = parse_nib(text) if text is not None else None
    except RowError as e:
        errors.append(e)
    except IdentifierError as e:
        errors.append(RowError("nib", str(e), raw_nib))
    raw_npwp = cell("npwp")
    try:
        text = _digits_cell("npwp", raw_npwp)
        npwp = parse_npwp(text) if text is not None else None
    except RowError as e:
        errors.append(e)
    except IdentifierError as e:
        errors.append(RowError("npwp", str(e), raw_npwp))

    kbli = attempt(_kbli, cell("kbli"))

    village_code = None
    try:
        code = _digits_cell("region_code", cell("region_code"))
        village_code, bad, reason = resolve_region(
            code,
            _text(cell("village")),
            _text(cell("district")),
            _text(cell("regency")),
            _text(cell("province")),
            plan.scope,
        )
        if village_code is None:
            assert bad is not None
            errors.append(RowError(bad, reason, code if bad == "region_code" else cell(bad)))
        elif not _in_scope(village_code, plan.scope):
            key = "region_code" if code is not None else "village"
            errors.append(
                RowError(key, f"{village_code} is outside your wilayah {plan.scope}", cell(key))
            )
            village_code = None
    except RowError as e:
        errors.append(e)

    address = _text(cell("address"))
    if address is not None and len(address) > MAX_ADDRESS:
        errors.append(RowError("address", f"longer than {MAX_ADDRESS} characters", address))
    lat = attempt(_coordinate, "latitude", cell("latitude"), LAT_RANGE)
    lng = attempt(_coordinate, "longitude", cell("longitude"), LNG_RANGE)
    if (lat is None) != (lng is None) and not any(
        e.key in ("latitude", "longitude") for e in errors
    ):
        key = "longitude" if lng is None else "latitude"
        errors.append(RowError(key, "latitude and longitude must be given together", cell(key)))

    capital = attempt(_money, "capital", cell("capital"), MAX_CAPITAL)
    sales = attempt(_money, "annual_sales", cell("annual_sales"), MAX_SALES)
    if (
        capital is None
        and sales is None
        and not any(e.key in ("capital", "annual_sales") for e in errors)
    ):
        key = "capital" if "capital" in index else "annual_sales"
        errors.append(RowError(key, "capital or annual sales is needed to classify the scale"))
    workforce = attempt(_workforce, cell("workforce"))
    founded_on = attempt(_date, cell("founded_on"))
    products = attempt(_products, cell("products"))
    certs = None
    cert_text = _text(cell("certifications"))
    if cert_text is not None:
        certs = attempt(parse_certificates, cert_text)

    scale = basis = None
    if capital is not None or sales is not None:
        scale, basis = scale_of(capital, sales)
        if scale == "besar":
            key = "capital" if capital is not None else "annual_sales"
            errors.append(
                RowError(
                    key,
                    "capital or sales put this business above menengah (usaha besar): "
                    "it is not an UMKM",
                    cell(key),
                )
            )
    if errors:
        return None
    assert nik is not None and village_code is not None and kbli is not None
    return _stage_tuple(
        vault, row_no, nik, village_code, business_name, owner_name, nib, npwp, kbli,
        address, lat, lng, capital, sales, scale, basis, workforce, founded_on, products,
        certs,
    )  # fmt: skip


# desa code -> (province, kab/kota, kecamatan, its kecamatan centre as `domain.locate` gives it)
_place_cache: dict[str, tuple[str, str, str, tuple[float | None, float | None, bool]]] = {}


def _stage_tuple(
    vault: NikVault,
    row_no: int,
    nik: str,
    village_code: str,
    business_name: str,
    owner_name: str,
    nib: str | None,
    npwp: str | None,
    kbli: str,
    address: str | None,
    lat: float | None,
    lng: float | None,
    capital: int | None,
    sales: int | None,
    scale: str | None,
    basis: str | None,
    workforce: int | None,
    founded_on: date | None,
    products: list[str] | None,
    certs: list[dict[str, str | None]] | None,
) -> tuple[Any, ...]:
    place = _place_cache.get(village_code)
    if place is None:
        parts = domain.WilayahParts.of_village(village_code)
        place = (parts.province_code, parts.regency_code, parts.district_code,
                 domain.locate(village_code, None, None))  # fmt: skip
        if len(_place_cache) >= _SMALL_CACHE_MAX:
            _place_cache.clear()
        _place_cache[village_code] = place
    province_code, regency_code, district_code, centre = place
    glat, glng, approx = (lat, lng, False) if lat is not None and lng is not None else centre
    search = domain.search_text(business_name)
    nik_hash = vault.lookup_hash(nik)
    # the same business = same NIB, else same owner + desa + name (see loader.py)
    nat_key = hashlib.blake2b(
        f"{nik_hash}\x1f{village_code}\x1f{search}".encode(), digest_size=16
    ).digest()
    stage_key = b"N" + nib.encode() if nib else b"K" + nat_key
    return (
        row_no, stage_key, nat_key, (nat_key[0] << 8) | nat_key[1],
        str(uuid_utils.uuid7()), str(uuid_utils.uuid7()), str(uuid_utils.uuid7()),
        str(uuid_utils.uuid7()),
        province_code, regency_code, district_code, village_code,
        business_name, search, owner_name,
        vault.encrypt(nik), nik_hash, vault.mask(nik),
        nib, npwp, "2020", kbli, address,
        glat, glng, approx, lat is not None,
        capital, sales, scale, basis, workforce, founded_on,
        orjson.dumps(products).decode() if products else None,
        orjson.dumps(certs).decode() if certs else None,
    )  # fmt: skip


# --- strict mode: the API's own model -------------------------------------------------------

_LOC_FIELD = {
    "business_name": "business_name",
    "owner_name": "owner_name",
    "owner_nik": "owner_nik",
    "nib": "nib",
    "npwp": "npwp",
    "kbli": "kbli",
    "village_code": "region_code",
    "address": "address",
    "latitude": "latitude",
    "longitude": "longitude",
    "capital_idr": "capital",
    "annual_sales_idr": "annual_sales",
    "workforce": "workforce",
    "founded_on": "founded_on",
    "products": "products",
    "certifications": "certifications",
}
_I = {name: i for i, name in enumerate(STAGE_COLUMNS)}


def create_body(staged: tuple[Any, ...], nik: str) -> dict[str, Any]:
    """The UmkmCreate body a staged row stands for (raw values as the API would get them)."""
    s = staged
    return {
        "business_name": s[_I["business_name"]],
        "owner_name": s[_I["owner_name"]],
        "owner_nik": nik,
        "nib": s[_I["nib"]],
        "npwp": s[_I["npwp"]],
        "kbli": {"version": s[_I["kbli_version"]], "code": s[_I["kbli_code"]]},
        "village_code": s[_I["village_code"]],
        "address": s[_I["address"]],
        "latitude": s[_I["latitude"]] if s[_I["coords_given"]] else None,
        "longitude": s[_I["longitude"]] if s[_I["coords_given"]] else None,
        "capital_idr": s[_I["capital_idr"]],
        "annual_sales_idr": s[_I["annual_sales_idr"]],
        "workforce": s[_I["workforce"]],
        "founded_on": s[_I["founded_on"]],
        "products": orjson.loads(s[_I["products"]]) if s[_I["products"]] else None,
        "certifications": orjson.loads(s[_I["certifications"]])
        if s[_I["certifications"]]
        else None,
    }


def _strict(
    plan: RowPlan,
    vault: NikVault,
    row_no: int,
    raw: Sequence[Cell],
    staged: tuple[Any, ...],
    errors: list[RowError],
) -> tuple[Any, ...] | None:
    """Run the row through UmkmCreate and take the derived fields from domain.new_record_fields
    (the API's path). Any disagreement with the fast path shows up as a row error or a
    different stored value, which the equivalence tests look for."""
    nik = vault.decrypt(staged[_I["owner_nik_encrypted"]])
    body_in = create_body(staged, nik)
    for key in ("business_name", "owner_name"):  # as typed: the model normalises them itself
        i = plan.index[key]
        body_in[key] = _text(raw[i])
    try:
        body = UmkmCreate.model_validate(body_in)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"][0] if err["loc"] else None
            fkey = _LOC_FIELD.get(str(loc)) if loc is not None else None
            idx = plan.index.get(fkey) if fkey else None
            errors.append(
                RowError(
                    fkey,
                    f"{err['msg']} (schema)",
                    raw[idx] if idx is not None and idx < len(raw) else None,
                )
            )
        return None
    fields = domain.new_record_fields(body)
    values: dict[str, Any] = dict(zip(STAGE_COLUMNS, staged, strict=True))
    for name in (
        "province_code", "regency_code", "district_code", "village_code", "business_name",
        "business_name_search", "owner_name", "nib", "npwp", "kbli_version", "kbli_code",
        "address", "latitude", "longitude", "location_approximate", "capital_idr",
        "annual_sales_idr", "scale", "workforce", "founded_on",
    ):  # fmt: skip
        values[name] = fields[name]
    values["products"] = orjson.dumps(fields["products"]).decode() if fields["products"] else None
    certs = fields["certifications"]
    values["certifications"] = orjson.dumps(certs).decode() if certs else None
    values["owner_nik_hash"] = vault.lookup_hash(body.owner_nik)
    values["owner_nik_masked"] = vault.mask(body.owner_nik)
    return tuple(values[name] for name in STAGE_COLUMNS)
