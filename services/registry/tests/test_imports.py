"""Bulk import through the HTTP API against a real PostgreSQL: every file shape, the error report
against the synthetic file's manifest, the stored records against the records the file holds,
re-imports, overlapping files, Dinas scope, ambiguous regions, hostile files, the events."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from test_imports_helpers import (
    ImportApp,
    csv_bytes,
    errors,
    expected_records,
    import_app,
    rows,
    run,
    scalar,
    slice_csv,
    state,
    upload,
    wait,
)

from umkm_registry.imports.loader import scale_sql
from umkm_registry.models import Umkm
from umkm_registry.service import snapshot
from umkm_shared.crypto import NikVault
from umkm_shared.events.registry import UmkmRegistered, UmkmScaleChanged, UmkmUpdated
from umkm_shared.identifiers import parse_npwp
from umkm_shared.parsing import normalize_name
from umkm_shared.reference import wilayah
from umkm_shared.scale import classify_scale
from umkm_shared.synthetic import write_import_file


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ia(make_database: Any, keys: dict[str, Any]) -> AsyncIterator[ImportApp]:
    async for x in import_app(make_database, keys, "imports"):
        yield x


def client_of(headers: dict[str, str], ia: ImportApp) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    return ia.app.state.token_verifier.verify(token).client_id  # type: ignore[no-any-return]


async def stored(ia: ImportApp, client_id: str) -> list[Umkm]:
    from sqlalchemy import select

    async with ia.runtime.db.session() as s:
        return list((await s.execute(select(Umkm).where(Umkm.created_by == client_id))).scalars())


# --- formats against the manifest -----------------------------------------------------------

FORMATS = [
    # (format, encoding, header style, wilayah the rows are drawn from, seed)
    ("csv", "utf-8", "id", "35", 101),
    ("csv-semicolon", "utf-8", "id", "33", 102),
    ("csv", "utf-8-sig", "en", "36", 103),
    ("csv", "cp1252", "id", "52", 104),
    ("xlsx", "utf-8", "id", "61", 105),
    ("ndjson", "utf-8", "en", "73", 106),
]


@pytest.mark.parametrize(("fmt", "encoding", "style", "within", "seed"), FORMATS)
async def test_each_format_imports_what_the_file_holds(
    ia: ImportApp, tmp_path: Path, fmt: str, encoding: str, style: str, within: str, seed: int
) -> None:
    ext = {"csv-semicolon": "csv"}.get(fmt, fmt)
    m = write_import_file(
        tmp_path / f"f.{ext}", 400, fmt=fmt, encoding=encoding, header_style=style,  # type: ignore[arg-type]
        within=within, seed=seed,
    )  # fmt: skip
    h = ia.headers()
    job = await run(ia, h, Path(m.path), f"dinas.{ext}")
    assert job["status"] == "done", job["error"]
    c = job["counts"]
    assert c["rows_total"] == m.rows
    assert c["rows_failed"] == len(m.invalid_rows)
    assert c["rows_duplicate"] == len(m.duplicate_rows)
    assert c["inserted"] == m.distinct_businesses and c["updated"] == c["unchanged"] == 0
    assert c["rows_ok"] + c["rows_failed"] == m.rows
    if fmt != "xlsx":  # (an ASCII-only Windows-1252 file is valid UTF-8 too)
        ascii_only = Path(m.path).read_bytes().isascii()
        assert job["summary"]["encoding"] == (
            "utf-8" if encoding == "cp1252" and ascii_only else encoding
        )
    # the error report: exactly the broken rows, each at the broken column
    report = await errors(ia, h, job["id"])
    assert sorted((e["row"], e["column"]) for e in report) == sorted(
        (e.row, e.column) for e in m.invalid_rows
    )
    assert all(e["line"] == e["row"] + m.header_rows for e in report)
    # the stored records hold the file's values
    vault: NikVault = ia.app.state.registry.vault
    by_hash = {}
    for r in await stored(ia, client_of(h, ia)):
        by_hash.setdefault(r.owner_nik_hash, []).append(r)
    changed = {d.duplicate_of for d in m.duplicate_rows if d.kind == "same_nib"}
    expected = expected_records(m)
    assert len(expected) == m.distinct_businesses
    for row, rec in expected.items():
        [r] = [
            x
            for x in by_hash[vault.lookup_hash(rec.owner_nik)]
            if x.village_code == rec.village_code
            and x.business_name.casefold() == normalize_name(rec.business_name).casefold()
        ]
        assert r.nib == rec.nib
        assert r.npwp == (parse_npwp(rec.npwp) if rec.npwp else None)
        assert r.kbli_code == rec.kbli.code
        assert r.owner_name.casefold() == normalize_name(rec.owner_name).casefold()
        assert r.founded_on == rec.founded_on
        assert r.products == list(rec.products)
        assert r.certifications == [c.registry_json() for c in rec.certifications]
        if rec.latitude is not None:
            assert (r.latitude, r.longitude, r.location_approximate) == (
                rec.latitude,
                rec.longitude,
                False,
            )
        else:
            assert r.location_approximate is True
        if row not in changed:  # a same-NIB duplicate later in the file changed one of these
            assert r.capital_idr == rec.capital_idr
            assert r.annual_sales_idr in (None, rec.annual_sales_idr)  # 5% left it empty
            assert r.workforce == rec.workforce
            assert r.address == rec.address
            assert r.scale == classify_scale(r.capital_idr, r.annual_sales_idr).scale


# --- re-import, overlap, events ---------------------------------------------------------------


async def test_reimporting_a_file_changes_nothing_and_emits_nothing(
    ia: ImportApp, tmp_path: Path
) -> None:
    from umkm_shared.library_metrics import LIBRARY_REGISTRY

    def rows(outcome: str) -> float:
        value = LIBRARY_REGISTRY.get_sample_value("umkm_import_rows_total", {"outcome": outcome})
        return value or 0.0

    m = write_import_file(tmp_path / "a.csv", 500, within="34", seed=21)
    h = ia.headers()
    inserted_before, unchanged_before = rows("inserted"), rows("unchanged")
    first = await run(ia, h, Path(m.path))
    assert first["counts"]["inserted"] == m.distinct_businesses
    assert rows("inserted") - inserted_before == m.distinct_businesses  # the dashboard's series
    before = await state(ia, client_of(h, ia))
    outbox = await scalar(ia, "SELECT count(*) FROM outbox")
    again = await run(ia, h, Path(m.path))
    c = again["counts"]
    assert (c["inserted"], c["updated"], c["unchanged"]) == (0, 0, m.distinct_businesses)
    assert c["rows_failed"] == len(m.invalid_rows) and c["rows_duplicate"] == len(m.duplicate_rows)
    assert again["summary"]["same_file_as"] == first["id"]
    assert rows("unchanged") - unchanged_before == m.distinct_businesses
    assert await state(ia, client_of(h, ia)) == before  # records, versions, feed, history
    assert await scalar(ia, "SELECT count(*) FROM outbox") == outbox


async def test_an_overlapping_file_only_adds_the_new_businesses(
    ia: ImportApp, tmp_path: Path
) -> None:
    m = write_import_file(tmp_path / "all.csv", 900, within="18", seed=31)
    h = ia.headers()
    a = await run(ia, h, slice_csv(Path(m.path), 1, 600), "a.csv")
    b = await run(ia, h, slice_csv(Path(m.path), 301, 900), "b.csv")
    assert a["status"] == b["status"] == "done"
    assert a["counts"]["inserted"] + b["counts"]["inserted"] == m.distinct_businesses
    assert b["counts"]["unchanged"] + b["counts"]["updated"] > 0
    client = client_of(h, ia)
    assert len(await stored(ia, client)) == m.distinct_businesses
    assert (
        await scalar(
            ia,
            """SELECT count(*) FROM (SELECT nib FROM umkm WHERE created_by = :c AND nib IS NOT NULL
           GROUP BY nib HAVING count(*) > 1) d""",
            c=client,
        )
        == 0
    )
    registered = await scalar(
        ia,
        """SELECT count(*) FROM outbox o JOIN umkm u ON u.id::text = o.key
           WHERE u.created_by = :c AND o.type = :t""",
        c=client,
        t=UmkmRegistered.type_name(),
    )
    assert registered == m.distinct_businesses  # one registration per business, ever


async def test_events_are_the_services_snapshots(ia: ImportApp, tmp_path: Path) -> None:
    """The SQL-built events equal what the API's use cases would emit for the stored rows."""
    m = write_import_file(tmp_path / "e.csv", 200, within="21", seed=41)
    h = ia.headers()
    job = await run(ia, h, Path(m.path))
    assert job["counts"]["inserted"] == m.distinct_businesses
    records = {str(r.id): r for r in await stored(ia, client_of(h, ia))}
    events = await rows(
        ia,
        "SELECT key, type, data, subject, topic FROM outbox WHERE key = ANY(:k)",
        k=list(records),
    )
    assert len(events) == len(records)
    for key, type_, data, subject, topic in events:
        assert (type_, subject, topic) == (UmkmRegistered.type_name(), key, UmkmRegistered.topic)
        assert UmkmRegistered.model_validate(data) == UmkmRegistered(umkm=snapshot(records[key]))

    # an update that moves the scale: UmkmUpdated + UmkmScaleChanged, feed, history, version 2
    target = next(r for r in records.values() if r.nib and r.scale == "mikro" and r.capital_idr)
    table = list(csv.reader(io.StringIO(Path(m.path).read_text(encoding="utf-8"))))
    header, body = table[0], table[1:]
    row = next(x for x in body if x[header.index("NIB")] == target.nib)
    row[header.index("Modal Usaha")] = "Rp 2.000.000.000,00"  # kecil
    row[header.index("Alamat")] = "Jl. Baru No. 1"
    job = await run(ia, h, csv_bytes([header, row]))
    assert job["counts"]["updated"] == 1, job
    async with ia.runtime.db.session() as s:
        fresh = await s.get(Umkm, (target.province_code, target.id))
    assert fresh is not None and fresh.version == 2 and fresh.scale == "kecil"
    events = await rows(
        ia, "SELECT type, data FROM outbox WHERE key = :k ORDER BY id", k=str(target.id)
    )
    assert [t for t, _ in events] == [
        UmkmRegistered.type_name(),
        UmkmUpdated.type_name(),
        UmkmScaleChanged.type_name(),
    ]
    updated = UmkmUpdated.model_validate(events[1][1])
    assert updated.umkm == snapshot(fresh)
    assert updated.changed_fields == ["address", "capital_idr", "scale"]
    changed = UmkmScaleChanged.model_validate(events[2][1])
    assert (changed.previous_scale, changed.new_scale, changed.capital_idr) == (
        "mikro",
        "kecil",
        2_000_000_000,
    )
    feed = await rows(
        ia, "SELECT change, version FROM umkm_changes WHERE umkm_id = :i ORDER BY seq", i=target.id
    )
    assert [tuple(f) for f in feed] == [("registered", 1), ("updated", 2)]
    history = await rows(
        ia,
        "SELECT previous_scale, new_scale FROM scale_history WHERE umkm_id = :i ORDER BY changed_at",
        i=target.id,
    )
    assert [tuple(x) for x in history] == [(None, "mikro"), ("mikro", "kecil")]


# --- Dinas scope and regions ------------------------------------------------------------------


async def test_a_dinas_imports_only_its_wilayah(ia: ImportApp, tmp_path: Path) -> None:
    m = write_import_file(tmp_path / "national.csv", 400, seed=51)
    expected = expected_records(m)
    province = max(
        {r.village_code[:2] for r in expected.values()},
        key=lambda p: sum(r.village_code.startswith(p + ".") for r in expected.values()),
    )
    inside = {row for row, r in expected.items() if r.village_code.startswith(province + ".")}
    h = ia.headers("dinas", wilayah=province)
    job = await run(ia, h, Path(m.path))
    assert job["status"] == "done"
    report = await errors(ia, h, job["id"])
    outside = {e["row"] for e in report if "outside your wilayah" in e["reason"]}
    assert set(expected) - inside <= outside  # every valid row elsewhere is reported ...
    assert not outside & inside  # ... and none of the Dinas's own
    assert all(
        e["column"] in ("Kode Wilayah", "Desa/Kelurahan")
        for e in report
        if "outside" in e["reason"]
    )
    records = await stored(ia, client_of(h, ia))
    assert records and all(r.province_code == province for r in records)
    assert job["counts"]["inserted"] == len(records) == len(inside)

    # the job is the Dinas's: another Dinas cannot see it, the ministry can
    other = ia.headers("dinas", wilayah="11" if province != "11" else "12")
    assert (await ia.client.get(f"/v1/imports/{job['id']}", headers=other)).status_code == 403
    listed = (await ia.client.get("/v1/imports", headers=other)).json()["items"]
    assert job["id"] not in {j["id"] for j in listed}
    assert (
        await ia.client.get(f"/v1/imports/{job['id']}", headers=ia.headers())
    ).status_code == 200


def _ambiguous_kecamatan() -> tuple[str, str]:
    """A kecamatan name used in several kabupaten/kota, and a desa name inside one of them."""
    table = wilayah()
    seen: dict[str, list[str]] = {}
    for k in table.all(3):
        seen.setdefault(k.name, []).append(k.code)
    for name, codes in sorted(seen.items()):
        if len(codes) >= 2:
            desa = table.children(codes[0])[0].name
            return name, desa
    raise AssertionError("no ambiguous kecamatan name")


HEADER = ["Nama Usaha", "Nama Pemilik", "NIK Pemilik", "Kode KBLI", "Desa/Kelurahan", "Kecamatan",
          "Kabupaten/Kota", "Provinsi", "Modal Usaha"]  # fmt: skip


def nik(district6: str = "327307", serial: int = 1) -> str:
    return f"{district6}5708{85:02d}{serial:04d}"


async def test_ambiguous_or_unknown_region_names_are_reported_never_guessed(ia: ImportApp) -> None:
    kec, desa = _ambiguous_kecamatan()
    body = [
        HEADER,
        ["Warung A", "Budi", nik(serial=11), "47111", desa, kec, "", "", "5000000"],
        ["Warung B", "Budi", nik(serial=12), "47111", "Cipedes", "Sukajadi", "Bandung", "", "5000000"],
        ["Warung C", "Budi", nik(serial=13), "47111", "Tidak Ada Sama Sekali", "Sukajadi", "Kota Bandung", "Jawa Barat", "5000000"],
        ["Warung D", "Budi", nik(serial=14), "47111", "CIPEDES", "Kec. Sukajadi", "KOTA BANDUNG", "JAWA BARAT", "5000000"],
    ]  # fmt: skip
    h = ia.headers()
    job = await run(ia, h, csv_bytes(body))
    report = {e["row"]: e for e in await errors(ia, h, job["id"])}
    assert report[1]["column"] == "Kecamatan" and "ambiguous" in report[1]["reason"]
    assert report[2]["column"] == "Kabupaten/Kota" and "ambiguous" in report[2]["reason"]
    assert "Kabupaten Bandung" in report[2]["reason"] and "Kota Bandung" in report[2]["reason"]
    assert (
        report[3]["column"] == "Desa/Kelurahan" and "no desa/kelurahan named" in report[3]["reason"]
    )
    assert 4 not in report
    [r] = await stored(ia, client_of(h, ia))
    assert r.village_code == "32.73.07.1002"  # Cipedes, Sukajadi, Kota Bandung


# --- a messy hand-written file ----------------------------------------------------------------

MESSY = (
    "\ufeffDATA UMKM BINAAN DINAS KUKM KOTA BANDUNG TAHUN 2025;;;;;;;;;;;;\r\n"
    ";;;;;;;;;;;;\r\n"
    "NAMA USAHA;nik_pemilik;Nama  Pemilik;Kode KBLI;Kode Wilayah;Desa / Kelurahan;Kecamatan;"
    "Modal Usaha (Rp);Omset;Tanggal Berdiri;Jumlah Tenaga Kerja;Sertifikat;Keterangan\r\n"
    # 1: capitals, Rp with cents, DD/MM/YYYY, a certificate with validity, an unknown column
    "KERIPIK TEMPE BU SRI;3273075708850001;SRI WAHYUNI;10794;32.73.07.1002;Cipedes;Sukajadi;"
    "Rp 1.500.000,00;Rp 24.000.000;17/08/2015;3;Halal ID32110000123450123 s.d. 01/01/2028;aktif\r\n"
    # 2: no code, names only; thousands dots; '1,5 jt'; a legacy NIK with spaces
    'Bengkel Maju;3273 0717 0885 0002;AHMAD;45407;;CIPEDES;SUKAJADI;1.500.000;"1,5 jt";'
    "01-02-2020;2;;\r\n"
    # 3: a formula as the business name: stored as text
    '=HYPERLINK("http://evil.example","klik");3273071708850003;Eko;47111;3273071002;;;'
    "2000000;;5 Agustus 2019;1;;\r\n"
    # 4: a formula as the capital: refused, and escaped in the CSV report
    "Toko Rusak;3273071708850004;Dewi;47111;32.73.07.1002;;;=1+1;;;1;;\r\n"
    ";;;;;;;;;;;;\r\n"  # 5: blank
    # 6: everything wrong at once
    ";123;;99999;99.99;;;-5;abc;31/02/2020;banyak;;\r\n"
)


async def test_a_messy_handwritten_csv(ia: ImportApp) -> None:
    h = ia.headers("dinas", wilayah="32.73")
    job = await run(ia, h, MESSY.encode("utf-8"), "umkm kota bandung.csv")
    assert job["status"] == "done", job["error"]
    s = job["summary"]
    assert (s["delimiter"], s["encoding"], s["header_row"]) == (";", "utf-8-sig", 3)
    assert s["ignored_columns"] == ["Keterangan"]
    assert s["columns"]["Modal Usaha (Rp)"] == "capital" and s["columns"]["Omset"] == "annual_sales"
    assert s["blank_rows"] == 1
    c = job["counts"]
    assert (c["rows_total"], c["inserted"], c["rows_failed"]) == (5, 3, 2)
    report = await errors(ia, h, job["id"])
    by_row: dict[int, list[dict[str, Any]]] = {}
    for e in report:
        by_row.setdefault(e["row"], []).append(e)
    assert [e["column"] for e in by_row[4]] == ["Modal Usaha (Rp)"]
    assert all(e["line"] == e["row"] + 3 for e in report)
    cols6 = {e["column"] for e in by_row[6]}
    assert cols6 >= {"NAMA USAHA", "Nama  Pemilik", "nik_pemilik", "Kode KBLI", "Kode Wilayah",
                     "Modal Usaha (Rp)", "Omset", "Tanggal Berdiri", "Jumlah Tenaga Kerja"}  # fmt: skip
    nik_error = next(e for e in by_row[6] if e["column"] == "nik_pemilik")
    assert nik_error["value"] == "*" * 16  # never a readable NIK in the report
    records = {r.business_name: r for r in await stored(ia, client_of(h, ia))}
    sri = records["Keripik Tempe Bu Sri"]
    assert (sri.owner_name, sri.capital_idr, sri.annual_sales_idr) == (
        "Sri Wahyuni",
        1_500_000,
        24_000_000,
    )
    assert str(sri.founded_on) == "2015-08-17" and sri.workforce == 3
    assert sri.certifications == [
        {"kind": "halal", "number": "ID32110000123450123", "valid_until": "2028-01-01"}
    ]
    maju = records["Bengkel Maju"]
    assert (maju.village_code, maju.capital_idr, maju.annual_sales_idr) == (
        "32.73.07.1002",
        1_500_000,
        1_500_000,
    )
    assert maju.owner_nik_masked.startswith("3273")
    formula = '=HYPERLINK("http://evil.example","klik")'
    assert formula in records  # stored as text
    # the CSV export: BOM, and formulas defused with a leading apostrophe
    r = await ia.client.get(f"/v1/imports/{job['id']}/errors.csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text_ = r.content.decode("utf-8")
    assert text_.startswith("\ufeffrow,line,column,value,reason")
    exported = list(csv.reader(io.StringIO(text_.lstrip("\ufeff"))))
    assert len(exported) == 1 + len(report)
    capital = next(x for x in exported if x[0] == "4")
    assert capital[3] == "'=1+1"
    assert all(not cell.startswith(("=", "+", "-", "@")) for x in exported for cell in x)


async def test_windows_1252_file(ia: ImportApp) -> None:
    body = [
        HEADER,
        [
            "Warung Pojok Café",
            "JOSÉ RIZAL",
            nik(serial=51),
            "56102",
            "Cipedes",
            "Sukajadi",
            "Kota Bandung",
            "Jawa Barat",
            "Rp 7.500.000",
        ],
    ]
    h = ia.headers()
    job = await run(ia, h, csv_bytes(body, ";", "cp1252"))
    assert job["status"] == "done" and job["summary"]["encoding"] == "cp1252"
    [r] = await stored(ia, client_of(h, ia))
    assert (r.business_name, r.owner_name, r.capital_idr) == (
        "Warung Pojok Café",
        "José Rizal",
        7_500_000,
    )


async def test_column_mapping_override_and_missing_columns(ia: ImportApp) -> None:
    body = [
        ["Usaha Binaan", "Penanggung Jawab", "KTP", "KBLI", "Kode Wilayah", "Aset (Rp)", "Catatan"],
        ["Toko Kelontong Jaya", "Rudi", nik(serial=21), "47111", "32.73.07.1002", "3000000", "x"],
    ]
    h = ia.headers()
    failed = await run(ia, h, csv_bytes(body))
    assert failed["status"] == "failed"
    assert (
        "missing required columns" in failed["error"]
        and "Nama Pemilik (owner_name)" in failed["error"]
    )
    bad = await upload(ia, h, csv_bytes(body), column_mapping='{"KTP": "nik_owner"}')
    assert bad.status_code == 422 and "nik_owner" in bad.text
    mapping = '{"Usaha Binaan": "business_name", "Penanggung Jawab": "owner_name", "KTP": "owner_nik", "Catatan": null, "Tidak Ada": "npwp"}'
    job = await run(ia, h, csv_bytes(body), column_mapping=mapping)
    assert job["status"] == "done" and job["counts"]["inserted"] == 1, job
    assert job["summary"]["unused_mapping"] == ["Tidak Ada"]
    assert job["column_mapping"]["Catatan"] is None
    # a failed job is retried with a mapping
    r = await ia.client.post(
        f"/v1/imports/{failed['id']}/retry",
        json={
            "column_mapping": {
                "Usaha Binaan": "business_name",
                "Penanggung Jawab": "owner_name",
                "KTP": "owner_nik",
            }
        },
        headers=h,
    )
    assert r.status_code == 202, r.text
    retried = await wait(ia, h, failed["id"])
    assert retried["status"] == "done" and retried["counts"]["unchanged"] == 1
    assert (await ia.client.post(f"/v1/imports/{failed['id']}/retry", headers=h)).status_code == 409


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "status"),
    [
        (b"", "empty.csv", 422),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "photo.csv", 415),
        (b"%PDF-1.7\n...", "data.pdf", 415),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.xls", 415),
        (bytes(range(256)) * 50, "garbage.bin", 415),
        ("Nama Usaha,NIK".encode("utf-16"), "utf16.csv", 415),
        (b"PK\x03\x04not really a zip", "fake.xlsx", 415),
        (b'[{"Nama Usaha": "x"}]', "array.json", 415),
    ],
)
async def test_files_that_are_not_imports_are_refused(
    ia: ImportApp, content: bytes, name: str, status: int
) -> None:
    h = ia.headers()
    before = await scalar(ia, "SELECT count(*) FROM imports")
    r = await upload(ia, h, content, name)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await scalar(ia, "SELECT count(*) FROM imports") == before  # no job, no file left


async def test_header_only_and_title_only_files(ia: ImportApp) -> None:
    h = ia.headers()
    job = await run(ia, h, csv_bytes([HEADER]))
    assert job["status"] == "done" and job["counts"]["rows_total"] == 0
    job = await run(ia, h, b"just some text\nno columns here\n")
    assert job["status"] == "failed" and "no header row" in job["error"]


async def test_gigantic_fields(ia: ImportApp) -> None:
    h = ia.headers()
    long_name = "Warung " + "Sangat " * 2000
    job = await run(
        ia,
        h,
        csv_bytes(
            [
                HEADER,
                [
                    long_name,
                    "Budi",
                    nik(serial=31),
                    "47111",
                    "Cipedes",
                    "Sukajadi",
                    "Kota Bandung",
                    "",
                    "5000000",
                ],
            ]
        ),
    )
    [e] = await errors(ia, h, job["id"])
    assert (
        e["column"] == "Nama Usaha" and "longer than 200" in e["reason"] and len(e["value"]) == 200
    )
    # one field larger than the limit (an unbalanced quote swallowing the rest of the file)
    limit = ia.app.state.import_worker.settings.max_field_chars
    blob = ",".join(HEADER).encode() + b'\r\n"' + b"x" * (limit + 10) + b'",a\r\n'
    job = await run(ia, h, blob)
    assert job["status"] == "failed" and "field" in job["error"].lower()


async def test_idempotency_key_replays_the_upload(ia: ImportApp) -> None:
    h = ia.headers()
    body = csv_bytes(
        [
            HEADER,
            [
                "Warung Idem",
                "Budi",
                nik(serial=41),
                "47111",
                "Cipedes",
                "Sukajadi",
                "Kota Bandung",
                "",
                "5000000",
            ],
        ]
    )
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await upload(ia, h | key, body)
    second = await upload(ia, h | key, body)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    other = await upload(ia, h | key, body + b"\r\n")
    assert other.status_code == 422
    await wait(ia, h, first.json()["id"])


async def test_list_columns_and_listing(ia: ImportApp) -> None:
    h = ia.headers()
    cols = (await ia.client.get("/v1/imports/columns", headers=h)).json()
    assert {c["field"] for c in cols if c["required"]} == {
        "business_name",
        "owner_name",
        "owner_nik",
        "kbli",
    }
    assert next(c for c in cols if c["field"] == "capital")["header"] == "Modal Usaha"
    page = (await ia.client.get("/v1/imports", params={"limit": 2}, headers=h)).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    nxt = (
        await ia.client.get(
            "/v1/imports", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h
        )
    ).json()
    assert {j["id"] for j in nxt["items"]}.isdisjoint(j["id"] for j in page["items"])


# --- the fast path equals the API's schema ----------------------------------------------------


async def test_fast_validation_equals_the_api_schema(ia: ImportApp, tmp_path: Path) -> None:
    """The same files through UmkmCreate + domain.new_record_fields (strict mode) give the same
    errors and the same stored values: the re-import finds every record unchanged."""
    m = write_import_file(tmp_path / "s.csv", 400, within="64", seed=61)
    h = ia.headers()
    worker = ia.app.state.import_worker
    for content in (Path(m.path), MESSY.replace("3273075708850001", "3273075708850091").encode()):
        fast = await run(ia, h, content)
        worker.settings = worker.settings.model_copy(update={"strict_schema": True})
        try:
            strict = await run(ia, h, content)
        finally:
            worker.settings = worker.settings.model_copy(update={"strict_schema": False})
        fe = await errors(ia, h, fast["id"])
        se = await errors(ia, h, strict["id"])
        assert sorted((e["row"], e["column"]) for e in fe) == sorted(
            (e["row"], e["column"]) for e in se
        )
        assert strict["counts"]["updated"] == 0 and strict["counts"]["inserted"] == 0
        fc = fast["counts"]
        assert strict["counts"]["unchanged"] == fc["inserted"] + fc["updated"] + fc["unchanged"]


async def test_sql_scale_matches_classify_scale(ia: ImportApp) -> None:
    scale, basis = scale_sql("c", "s")
    cases = [(c, s) for c in (None, 0, 10**9, 10**9 + 1, 5 * 10**9, 5 * 10**9 + 1, 10**10, 10**10 + 1)
             for s in (0, 2 * 10**9, 2 * 10**9 + 1, 15 * 10**9 + 1, 50 * 10**9 + 1)]  # fmt: skip
    for c, s in cases:
        got = await rows(
            ia,
            f"SELECT {scale}, {basis} FROM (SELECT CAST(:c AS bigint) AS c, CAST(:s AS bigint) AS s) x",
            c=c,
            s=s,
        )
        want = classify_scale(c, s)
        assert tuple(got[0]) == (str(want.scale), str(want.basis)), (c, s)


async def test_parsing_in_worker_processes(
    make_database: Any, keys: dict[str, Any], tmp_path: Path
) -> None:
    """The deployed path: rows parsed in a spawned process pool, merged two batches at once."""
    m = write_import_file(tmp_path / "p.csv", 600, within="32", seed=71)
    async for pia in import_app(
        make_database, keys, "imports_pool", parse_workers=1, merge_connections=2,
        chunk_rows=150, merge_rows=100,
    ):  # fmt: skip
        h = pia.headers()
        job = await run(pia, h, Path(m.path))
        assert job["status"] == "done", job["error"]
        c = job["counts"]
        assert (c["rows_failed"], c["rows_duplicate"], c["inserted"]) == (
            len(m.invalid_rows),
            len(m.duplicate_rows),
            m.distinct_businesses,
        )
        report = await errors(pia, h, job["id"])
        assert sorted((e["row"], e["column"]) for e in report) == sorted(
            (e.row, e.column) for e in m.invalid_rows
        )


async def test_control_characters_in_cells_are_row_errors(ia: ImportApp) -> None:
    """A control character in a cell is that row's error; the other rows land. A raw NUL byte
    makes the file binary (refused at upload); in NDJSON it can hide as an escape."""
    row = ["Cipedes", "Sukajadi", "Kota Bandung", "Jawa Barat", "Rp 7.500.000"]
    h = ia.headers()
    body = [
        HEADER,
        ["Toko \x07Lonceng", "Budi Santoso", nik(serial=62), "47111", *row],
        ["Warung Sehat", "Siti Aminah", nik(serial=63), "56102", *row],
    ]
    job = await run(ia, h, csv_bytes(body, ";", "utf-8"))
    assert job["status"] == "done", job["error"]
    assert (job["counts"]["inserted"], job["counts"]["rows_failed"]) == (1, 1)
    report = await errors(ia, h, job["id"])
    assert [e["row"] for e in report] == [1] and "control character" in report[0]["reason"]

    lines = [dict(zip(HEADER, r, strict=True)) for r in body[1:]]
    lines[0]["Nama Usaha"] = "Warung\x00Pojok"
    lines[0]["NIK Pemilik"] = nik(serial=64)
    lines[1]["NIK Pemilik"] = nik(serial=65)
    lines[1]["Nama Usaha"] = "Warung Sehat Dua"
    ndjson = "".join(json.dumps(x) + "\n" for x in lines).encode()
    assert b"\\u0000" in ndjson
    job = await run(ia, h, ndjson, "data.ndjson")
    assert job["status"] == "done", job["error"]
    assert (job["counts"]["inserted"], job["counts"]["rows_failed"]) == (1, 1)
    [nul] = [e for e in await errors(ia, h, job["id"]) if e["row"] == 1]
    assert nul["value"] == "Warung\\x00Pojok"  # shown escaped in the report
    names = sorted(r.business_name for r in await stored(ia, client_of(h, ia)))
    assert names == ["Warung Sehat", "Warung Sehat Dua"]
