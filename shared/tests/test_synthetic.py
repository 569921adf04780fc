"""Synthetic UMKM: determinism, valid identifiers, realistic shares, import files and manifests."""

from __future__ import annotations

import csv
import itertools
import math
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any, cast

import openpyxl  # type: ignore[import-untyped]
import orjson
import pytest

from umkm_shared.identifiers import (
    IdentifierError,
    nik_birth_date_parts,
    nik_sex,
    parse_kbli,
    parse_nib,
    parse_nik,
    parse_npwp,
    parse_wilayah,
)
from umkm_shared.parsing import ParseError, normalize_name, parse_indonesian_date, parse_rupiah
from umkm_shared.reference import centroids, kbli, population, wilayah
from umkm_shared.scale import ScaleBasis, classify_scale
from umkm_shared.synthetic import (
    BLOCK,
    DEFECTS,
    FIELDS,
    HEADERS,
    ImportFileManifest,
    SyntheticUmkm,
    generate,
    generate_batches,
    write_import_file,
)
from umkm_shared.synthetic._catalog import SECTION_SHARES, catalog
from umkm_shared.synthetic._regions import regions
from umkm_shared.synthetic._vocab import GROUPS
from umkm_shared.synthetic.importfile import Encoding, HeaderStyle, ImportFormat

AS_OF = date(2026, 11, 27)
REGISTRY_KEYS = {
    "business_name",
    "owner_name",
    "owner_nik",
    "nib",
    "npwp",
    "kbli",
    "village_code",
    "address",
    "latitude",
    "longitude",
    "capital_idr",
    "annual_sales_idr",
    "workforce",
    "founded_on",
    "products",
    "certifications",
}


@cache
def sample(n: int = 20_000, seed: int = 11) -> tuple[SyntheticUmkm, ...]:
    return tuple(generate(n, seed=seed, as_of=AS_OF))


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_same_records_and_other_seed_differs() -> None:
    first = list(generate(300, seed=5, as_of=AS_OF))
    again = list(generate(300, seed=5, as_of=AS_OF))
    other = list(generate(300, seed=6, as_of=AS_OF))
    assert first == again
    assert [r.registry_json() for r in first] == [r.registry_json() for r in again]
    assert sum(a.owner_nik == b.owner_nik for a, b in zip(first, other, strict=True)) < 5
    assert len({r.business_name for r in first}) > 250


def test_batching_and_prefix_do_not_change_records() -> None:
    n = BLOCK + 300  # crosses an internal block boundary
    whole = list(generate(n, seed=2, as_of=AS_OF))
    batches = list(generate_batches(n, batch_size=777, seed=2, as_of=AS_OF))
    assert [len(b) for b in batches[:-1]] == [777] * (len(batches) - 1)
    assert [r for b in batches for r in b.records()] == whole
    assert list(generate(500, seed=2, as_of=AS_OF)) == whole[:500]
    assert [r.index for r in whole] == list(range(n))


def test_batch_columns_and_polars() -> None:
    batch = next(generate_batches(3000, seed=1, as_of=AS_OF))
    records = list(batch.records())
    frame = batch.to_polars()
    assert frame.height == 3000
    assert frame["owner_nik"].to_list() == [r.owner_nik for r in records]
    assert frame["latitude"].null_count() == sum(r.latitude is None for r in records)
    assert frame["products"].to_list() == [list(r.products) for r in records]
    certs = [
        [(c["kind"], c["number"], c["valid_until"]) for c in x] for x in frame["certifications"]
    ]
    assert certs == [[(c.kind, c.number, c.valid_until) for c in r.certifications] for r in records]
    assert any(certs) and not all(certs)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        list(generate(-1))
    with pytest.raises(ValueError):
        list(generate(5, within="99"))  # no such province
    with pytest.raises(ValueError):
        list(generate_batches(5, batch_size=0))


# --- identifiers and references -----------------------------------------------------------------


def test_nik_valid_unique_and_consistent_with_owner_and_region() -> None:
    records = sample()
    assert len({r.owner_nik for r in records}) == len(records)
    for r in records:
        assert parse_nik(r.owner_nik) == r.owner_nik
        assert r.owner_nik[:6] == r.village_code[:8].replace(".", "")
        assert nik_sex(r.owner_nik) == r.owner_sex
        day, month, year2 = nik_birth_date_parts(r.owner_nik)
        born = r.owner_birth_date
        assert (day, month, year2) == (born.day, born.month, born.year % 100)
        assert 18 <= (AS_OF - born).days / 365.25 <= 76


def test_owner_names_match_sex() -> None:
    male_all = set().union(*(g.honorific_male for g in GROUPS.values()))
    female_all = set().union(*(g.honorific_female for g in GROUPS.values()))
    male_only, female_only = male_all - female_all, female_all - male_all
    checked = 0
    for r in sample():
        if r.owner_name.startswith("Ni "):  # Balinese: Ni for women, I for men
            assert r.owner_sex == "female"
        elif r.owner_name.startswith("I ") and not r.owner_name.startswith("I Gusti Ayu"):
            assert r.owner_sex == "male"
        words = r.business_name.split()
        owner_words = set(r.owner_name.split()) | {
            "Wayan",
            "Made",
            "Nyoman",
            "Ketut",
            "Putu",
            "Kadek",
            "Komang",
            "Gede",
        }
        for word, following in itertools.pairwise(words):
            if following in owner_words and (word in male_only or word in female_only):
                assert r.owner_sex == ("male" if word in male_only else "female"), r
                checked += 1
    assert checked > 1000


def test_nib_npwp_village_and_kbli_are_valid() -> None:
    records = sample()
    nibs = [r.nib for r in records if r.nib]
    assert len(set(nibs)) == len(nibs)
    assert 0.25 < len(nibs) / len(records) < 0.36
    table = kbli()
    for r in records:
        if r.nib:
            assert parse_nib(r.nib) == r.nib
        if r.npwp:
            assert parse_npwp(r.npwp) == r.npwp and len(r.npwp) == 16
            if r.legal_form in ("CV", "PT") and r.npwp.startswith("0"):
                pass  # an entity's own NPWP: "0" + the legacy 15 digits
            else:
                assert r.npwp == r.owner_nik  # a person's NPWP is the NIK (since 2024)
        assert parse_wilayah(r.village_code, level=4) == r.village_code
        assert r.kbli.version == "2020"
        assert parse_kbli(r.kbli.code, kelompok=True).code == r.kbli.code
        assert table.get(r.kbli.code) is not None
    npwp_share = sum(r.npwp is not None for r in records) / len(records)
    assert 0.08 < npwp_share < 0.25


def test_catalogue_codes_exist() -> None:
    cat = catalog()
    assert len(cat.activities) > 100
    assert math.isclose(sum(cat.probabilities), 1.0)
    for activity in cat.activities:
        entry = kbli().get(activity.code)
        assert entry is not None and entry.level == "kelompok"


def test_registry_json_shape() -> None:
    record = sample()[0]
    body = record.registry_json()
    assert set(body) == REGISTRY_KEYS
    assert body["kbli"] == {"version": "2020", "code": record.kbli.code}
    assert orjson.loads(orjson.dumps(body)) == body


# --- shares and ranges --------------------------------------------------------------------------


def test_scale_shares_and_bands() -> None:
    records = sample()
    shares = Counter(r.scale for r in records)
    n = len(records)
    assert 0.980 < shares["mikro"] / n < 0.993
    assert 0.007 < shares["kecil"] / n < 0.017
    assert shares["menengah"] / n < 0.004
    for r in records:
        assert classify_scale(r.capital_idr, None).scale == r.scale
        assert classify_scale(None, r.annual_sales_idr, ScaleBasis.SALES).scale == r.scale
        assert isinstance(r.capital_idr, int) and r.capital_idr > 0
        low, high = {"mikro": (1, 9), "kecil": (5, 19), "menengah": (20, 99)}[r.scale]
        assert low <= r.workforce <= high
    mikro = [r for r in records if r.scale == "mikro"]
    assert sum(r.workforce <= 4 for r in mikro) / len(mikro) > 0.85


def test_sector_shares() -> None:
    records = sample()
    n = len(records)
    sections = Counter(kbli().section_of(r.kbli.code) for r in records)
    assert abs(sections["G"] / n - 0.54) < 0.015
    assert abs(sections["I"] / n - 0.19) < 0.012
    assert abs(sections["C"] / n - 0.16) < 0.012
    assert set(sections) <= set(SECTION_SHARES)
    assert sum(sections[s] for s in "AS") / n > 0.05


def test_regions_follow_population() -> None:
    records = sample()
    java = sum(r.village_code[:2] in {"31", "32", "33", "34", "35", "36"} for r in records)
    pops = population()
    java_pop = sum(pops[p].total for p in ("31", "32", "33", "34", "35", "36"))
    all_pop = sum(pops[r.code].total for r in wilayah().all(1))
    assert abs(java / len(records) - java_pop / all_pop) < 0.02


def test_coordinates_near_kecamatan_centre() -> None:
    records = sample()
    with_point = [r for r in records if r.latitude is not None]
    assert abs(len(with_point) / len(records) - 0.70) < 0.015
    table = regions()
    kec_index = {code: i for i, code in enumerate(table.kec_codes)}
    for r in with_point:
        assert r.longitude is not None
        centre = centroids().point(r.village_code[:8])
        assert centre is not None
        dy = (r.latitude - centre.lat) * 110.574
        dx = (r.longitude - centre.lng) * 111.320 * math.cos(math.radians(centre.lat))
        limit = 2.5 * math.sqrt(2) * table.kec_sd_km[kec_index[r.village_code[:8]]] + 0.01
        assert math.hypot(dx, dy) <= limit
        assert -11.5 <= r.latitude <= 6.5 and 94.5 <= r.longitude <= 141.5


def test_dates_products_and_certifications() -> None:
    kinds: Counter[str] = Counter()
    for r in sample():
        years_ago = (AS_OF - r.founded_on).days / 365.2425
        assert 0.99 <= years_ago <= 40.0
        assert r.founded_on >= r.owner_birth_date + timedelta(days=int(16.9 * 365.25))
        assert 1 <= len(r.products) <= 3 and len(set(r.products)) == len(r.products)
        assert all(p.strip() for p in r.products)
        for cert in r.certifications:
            kinds[cert.kind] += 1
            assert cert.number
            assert r.founded_on <= cert.issued_on <= AS_OF
            if cert.valid_until is None:
                assert cert.kind == "halal" and cert.issued_on >= date(2024, 10, 17)
            else:
                assert cert.valid_until > cert.issued_on
        if r.certifications:
            assert kbli().section_of(r.kbli.code) in {"C", "I"}
    assert {"halal", "pirt", "bpom"} <= set(kinds)


@pytest.mark.parametrize("within", ["32.73", "3273", "32", "32.73.01", "32.73.01.1001"])
def test_within_restricts_regions(within: str) -> None:
    prefix = parse_wilayah(within)
    records = list(generate(400, seed=3, within=within, as_of=AS_OF))
    assert all(r.village_code == prefix or r.village_code.startswith(prefix + ".") for r in records)
    assert all(r.owner_nik[:6] == r.village_code[:8].replace(".", "") for r in records)
    if len(prefix) <= 5:
        assert len({r.village_code for r in records}) > 20


# --- import files -------------------------------------------------------------------------------


def read_rows(path: Path, fmt: str, encoding: str, style: str) -> list[dict[str, Any]]:
    """Rows of an import file as {field key: cell value} ("" for empty)."""
    by_header = {label: key for key, label in HEADERS[style].items()}
    if fmt == "xlsx":
        book = openpyxl.load_workbook(path, read_only=True)
        rows = [list(row) for row in book.active.iter_rows(values_only=True)]
        book.close()
        header, data = rows[0], rows[1:]
        # write-only sheets omit trailing empty cells: pad ragged rows
        data = [
            ["" if v is None else v for v in row] + [""] * (len(FIELDS) - len(row)) for row in data
        ]
    elif fmt == "ndjson":
        objects = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        header = list(objects[0])
        data = [["" if v is None else v for v in obj.values()] for obj in objects]
    else:
        with path.open(encoding=encoding, newline="") as handle:
            rows = list(csv.reader(handle, delimiter=";" if fmt == "csv-semicolon" else ","))
        header, data = rows[0], rows[1:]
    assert [by_header[h] for h in header] == list(FIELDS)
    return [dict(zip(FIELDS, row, strict=True)) for row in data]


def resolve_by_name(row: dict[str, Any]) -> str:
    """The desa the four region names identify (exactly one at each level), else raise."""
    table = wilayah()
    within: str | None = None
    for key, level in (("province", 1), ("regency", 2), ("district", 3), ("village", 4)):
        found = table.search_by_name(str(row[key]), level=level, within=within)
        if len(found) != 1:
            raise LookupError(f"{key} {row[key]!r}: {len(found)} matches")
        within = found[0].code
    assert within is not None
    return within


def failing_fields(row: dict[str, Any]) -> set[str]:
    """Fields of `row` the shared parsers reject (the checks a bulk import would run)."""
    failed: set[str] = set()

    def check(key: str, fn: Any, *, optional: bool = False) -> None:
        value = row[key]
        if optional and value == "":
            return
        try:
            fn(value)
        except (IdentifierError, ParseError, ValueError, LookupError):
            failed.add(key)

    check("business_name", normalize_name)
    check("owner_name", normalize_name)
    check("owner_nik", parse_nik)
    check("nib", parse_nib, optional=True)
    check("npwp", parse_npwp, optional=True)
    check("kbli", lambda v: parse_kbli(str(v), kelompok=True))
    check("region_code", lambda v: parse_wilayah(v, level=4), optional=True)
    if row["region_code"] == "":
        check("village", lambda _: resolve_by_name(row))
    check("capital", parse_rupiah)
    check("annual_sales", parse_rupiah, optional=True)
    check("workforce", int)
    check("founded_on", parse_indonesian_date)
    for key in ("latitude", "longitude"):
        check(key, lambda v: float(str(v).replace(",", ".")), optional=True)
    return failed


@pytest.mark.parametrize(
    ("fmt", "encoding", "style"),
    [
        ("csv", "utf-8", "id"),
        ("csv", "utf-8-sig", "en"),
        ("csv", "cp1252", "id"),
        ("csv-semicolon", "utf-8", "id"),
        ("xlsx", "utf-8", "id"),
        ("ndjson", "utf-8", "en"),
    ],
)
def test_import_file_matches_its_manifest(
    tmp_path: Path, fmt: ImportFormat, encoding: Encoding, style: HeaderStyle
) -> None:
    n = 600
    path = tmp_path / f"umkm.{fmt}"
    manifest = write_import_file(
        path,
        n,
        fmt=fmt,
        seed=4,
        invalid_share=0.05,
        duplicate_share=0.05,
        encoding=encoding,
        header_style=style,
        as_of=AS_OF,
    )
    if encoding == "utf-8-sig":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    if fmt != "xlsx":
        path.read_bytes().decode(encoding)  # really in that encoding
    rows = read_rows(path, fmt, encoding, style)
    assert manifest.rows == len(rows) == n
    assert manifest.headers == [HEADERS[style][f] for f in FIELDS]
    assert len(manifest.invalid_rows) == round(n * 0.05)
    assert abs(len(manifest.duplicate_rows) - round(n * 0.05)) <= 1
    assert manifest.valid_rows == n - len(manifest.invalid_rows)
    assert manifest.distinct_businesses == n - len(manifest.invalid_rows) - len(
        manifest.duplicate_rows
    )

    invalid = {x.row: x for x in manifest.invalid_rows}
    duplicates = {x.row: x for x in manifest.duplicate_rows}
    assert not set(invalid) & set(duplicates)
    for number, row in enumerate(rows, start=1):
        failed = failing_fields(row)
        if number in invalid:
            entry = invalid[number]
            assert failed == {entry.field}, (number, entry, row)
            assert entry.column == HEADERS[style][entry.field]
        else:
            assert failed == set(), (number, failed, row)
            if row["region_code"] != "":  # names agree with the code
                desa = wilayah().name_of(parse_wilayah(row["region_code"]))
                assert str(row["village"]).casefold() == str(desa).casefold()
    assert {x.defect for x in manifest.invalid_rows} <= set(DEFECTS)
    assert len({x.defect for x in manifest.invalid_rows}) >= 8

    for number, entry in duplicates.items():
        original, copy = rows[entry.duplicate_of - 1], rows[number - 1]
        assert entry.duplicate_of < number
        assert entry.duplicate_of not in invalid and entry.duplicate_of not in duplicates
        if entry.kind == "exact":
            assert copy == original
        else:
            assert entry.kind == "same_nib" and copy["nib"] == original["nib"] != ""
            assert {k for k in FIELDS if copy[k] != original[k]} == {entry.changed_field}
            assert entry.changed_field is not None
            assert entry.changed_column == HEADERS[style][entry.changed_field]
    assert {x.kind for x in manifest.duplicate_rows} == {"exact", "same_nib"}

    valid_niks = {
        parse_nik(row["owner_nik"]) for number, row in enumerate(rows, 1) if number not in invalid
    }
    assert len(valid_niks) == manifest.distinct_businesses

    # the rendering really mixes the formats a Dinas sheet has
    values = [str(row["capital"]) for row in rows]
    assert any(v.startswith("Rp") for v in values) and any(v.isdigit() for v in values)
    assert any(row["region_code"] == "" for row in rows)
    assert any(str(row["owner_name"]).isupper() for row in rows)
    assert any(str(row["regency"]).startswith("KAB. ") for row in rows)
    if fmt == "csv-semicolon":
        assert manifest.coordinate_decimal_separator == ","
        assert any("," in row["latitude"] for row in rows)


def test_import_file_is_deterministic_and_manifest_round_trips(tmp_path: Path) -> None:
    one, two = tmp_path / "a.csv", tmp_path / "b.csv"
    m1 = write_import_file(one, 300, seed=9, as_of=AS_OF, invalid_share=0.1)
    m2 = write_import_file(two, 300, seed=9, as_of=AS_OF, invalid_share=0.1)
    assert one.read_bytes() == two.read_bytes()
    assert m1.invalid_rows == m2.invalid_rows and m1.duplicate_rows == m2.duplicate_rows
    saved = m1.save()
    assert saved == Path(str(one) + ".manifest.json")
    loaded = ImportFileManifest.load(saved)
    assert loaded == m1


def test_import_file_within_and_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "bdg.ndjson"
    write_import_file(
        path, 200, fmt="ndjson", within="32.73", as_of=AS_OF, invalid_share=0, duplicate_share=0
    )
    rows = read_rows(path, "ndjson", "utf-8", "id")
    assert {
        resolve_by_name(row) if row["region_code"] == "" else parse_wilayah(row["region_code"])
        for row in rows
    } <= {r.code for r in wilayah().all(4) if r.code.startswith("32.73.")}
    with pytest.raises(ValueError):
        write_import_file(tmp_path / "x.xlsx", 5, fmt="xlsx", encoding="cp1252")
    with pytest.raises(ValueError):
        write_import_file(tmp_path / "x.csv", 5, invalid_share=0.8, duplicate_share=0.5)
    with pytest.raises(ValueError):
        write_import_file(tmp_path / "x.txt", 5, fmt=cast(ImportFormat, "txt"))


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_records_and_import_file(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "umkm_shared.synthetic"]
    out = subprocess.run(
        [*base, "records", "--n", "5", "--seed", "1", "--within", "32.73", "--as-of", "2026-11-27"],
        check=True,
        capture_output=True,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 5
    first = orjson.loads(lines[0])
    assert set(first) == REGISTRY_KEYS and first["village_code"].startswith("32.73.")
    assert first == next(generate(1, seed=1, within="32.73", as_of=AS_OF)).registry_json()

    target = tmp_path / "file.csv"
    subprocess.run(
        [
            *base,
            "import-file",
            "--n",
            "120",
            "--format",
            "csv",
            "--out",
            str(target),
            "--invalid",
            "0.1",
            "--duplicates",
            "0.05",
            "--as-of",
            "2026-11-27",
        ],
        check=True,
        capture_output=True,
    )
    manifest = orjson.loads((tmp_path / "file.csv.manifest.json").read_bytes())
    assert manifest["rows"] == 120 and len(manifest["invalid_rows"]) == 12
    assert len(target.read_text(encoding="utf-8").splitlines()) == 121
