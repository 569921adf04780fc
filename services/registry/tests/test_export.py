"""CSV and XLSX export against a real PostgreSQL: content equals search, region scope,
formula-injection safety, masked NIK, batches for large regions, change-feed cursor."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import httpx
import openpyxl
from registry_support import idem, mint, new_umkm, valid_nik
from sqlalchemy import text

from umkm_registry.export import BATCH, HEADERS, batches, csv_stream
from umkm_registry.repository import SearchFilters
from umkm_shared import reference
from umkm_shared.runtime import ServiceRuntime

# Desa of Kota Bandung from the middle of the list (dedup tests take them from the end).
_BANDUNG_DESA = [
    v.code
    for d in reference.wilayah().children("32.73")
    for v in reference.wilayah().children(d.code)
]
_next_desa = iter(_BANDUNG_DESA[len(_BANDUNG_DESA) // 3 :])
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
NUMERIC = {
    "Latitude",
    "Longitude",
    "Modal Usaha",
    "Omzet per Tahun",
    "Jumlah Tenaga Kerja",
    "Versi",
}


def desa() -> str:
    return next(_next_desa)


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], **over: Any
) -> dict[str, Any]:
    r = await client.post("/v1/umkm", json=new_umkm(**over), headers=headers | idem())
    assert r.status_code == 201, r.text
    return dict(r.json())


def parse_csv(body: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM expected"
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=delimiter)
    header, *rows = list(reader)
    assert tuple(header) == HEADERS
    return [dict(zip(header, row, strict=True)) for row in rows]


def parse_xlsx(body: bytes) -> tuple[list[dict[str, Any]], Any]:
    wb = openpyxl.load_workbook(io.BytesIO(body))
    ws = wb["UMKM"]
    header, *rows = list(ws.iter_rows(values_only=True))
    assert tuple(header) == HEADERS
    return [dict(zip(header, row, strict=True)) for row in rows], ws


def safe(value: str) -> str:
    return "'" + value if value.startswith(DANGEROUS) else value


def expected(item: dict[str, Any]) -> dict[str, Any]:
    """The export's cells for a search result item (typed, as in the XLSX)."""
    w = item["wilayah"]
    return {
        "ID UMKM": item["id"],
        "Nama Usaha": safe(item["business_name"]),
        "Nama Pemilik": safe(item["owner"]["name"]),
        "NIK Pemilik": item["owner"]["nik_masked"],
        "NIB": item["nib"],
        "NPWP": item["npwp"],
        "Kode KBLI": item["kbli"]["code"],
        "Alamat": safe(item["address"]) if item["address"] else None,
        "Kode Wilayah": w["village"]["code"],
        "Desa/Kelurahan": w["village"]["name"],
        "Kecamatan": w["district"]["name"],
        "Kabupaten/Kota": w["regency"]["name"],
        "Provinsi": w["province"]["name"],
        "Latitude": item["location"]["latitude"],
        "Longitude": item["location"]["longitude"],
        "Modal Usaha": item["capital_idr"],
        "Omzet per Tahun": item["annual_sales_idr"],
        "Jumlah Tenaga Kerja": item["workforce"],
        "Tanggal Berdiri": date.fromisoformat(item["founded_on"]) if item["founded_on"] else None,
        "Produk": safe(", ".join(item["products"])) if item["products"] else None,
        "Skala": item["scale"],
        "Status": item["status"],
        "Versi": item["version"],
    }


def as_csv(cells: dict[str, Any]) -> dict[str, str]:
    return {
        k: "" if v is None else v.isoformat() if isinstance(v, date) else str(v)
        for k, v in cells.items()
    }


async def search_all(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = params | {"limit": 500} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/v1/umkm", params=q, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            return items


async def test_csv_and_xlsx_equal_search_results_for_a_desa(client, dinas):
    village = desa()
    await register(client, dinas, village_code=village, owner_nik=valid_nik())
    await register(
        client, dinas, village_code=village, owner_nik=valid_nik(), business_name="Bengkel Las Jaya",
        nib=f"96{uuid.uuid4().int % 10**11:011d}", npwp="0123456789012345",
        latitude=-6.8851, longitude=107.5912, products=["Pagar besi", "Teralis"],
    )  # fmt: skip
    await register(
        client, dinas, village_code=village, owner_nik=valid_nik(), business_name="Toko Ani",
        address=None, workforce=None, founded_on=None, products=[], certifications=[],
    )  # fmt: skip
    for params in (
        {"wilayah": village},
        {"wilayah": village, "has_nib": "true"},
        {"wilayah": village, "q": "toko"},
    ):
        items = await search_all(client, dinas, **params)
        assert items, params

        r = await client.get("/v1/exports/umkm.csv", params=params, headers=dinas)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        today = datetime.now(UTC).strftime("%Y%m%d")
        assert (
            r.headers["content-disposition"] == f'attachment; filename="umkm-{village}-{today}.csv"'
        )
        rows = parse_csv(r.content)
        assert [row["ID UMKM"] for row in rows] == [i["id"] for i in items]
        for row, item in zip(rows, items, strict=True):
            want = as_csv(expected(item))
            assert {k: row[k] for k in want} == want

        r = await client.get("/v1/exports/umkm.xlsx", params=params, headers=dinas)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert r.headers["content-disposition"].endswith(f'{village}-{today}.xlsx"')
        xrows, _ = parse_xlsx(r.content)
        assert [row["ID UMKM"] for row in xrows] == [i["id"] for i in items]
        for row, item in zip(xrows, items, strict=True):
            want = expected(item)
            got = {k: row[k] for k in want}
            if isinstance(got["Tanggal Berdiri"], datetime):
                got["Tanggal Berdiri"] = got["Tanggal Berdiri"].date()
            assert got == want


async def test_export_is_scoped_to_the_callers_wilayah(client, app, dinas, ministry):
    jakarta = mint(app, "dinas", wilayah="31")
    theirs = await register(
        client, jakarta, village_code="31.71.01.1001", owner_nik=valid_nik("317101")
    )
    mine = await register(client, dinas, village_code=desa(), owner_nik=valid_nik())

    rows = parse_csv((await client.get("/v1/exports/umkm.csv", headers=dinas)).content)
    assert all(row["Kode Wilayah"].startswith("32.73.") for row in rows)
    ids = {row["ID UMKM"] for row in rows}
    assert mine["id"] in ids and theirs["id"] not in ids

    for fmt in ("csv", "xlsx"):
        r = await client.get(f"/v1/exports/umkm.{fmt}", params={"wilayah": "31"}, headers=dinas)
        assert r.status_code == 403 and r.headers["content-type"].startswith(
            "application/problem+json"
        )
        r = await client.get(
            f"/v1/exports/umkm.{fmt}", headers=mint(app, "bank", actor_id="bank-a")
        )
        assert r.status_code == 403
        assert (await client.get(f"/v1/exports/umkm.{fmt}")).status_code == 401
    r = await client.get(
        "/v1/exports/umkm.csv", params={"wilayah": "31.71.01.1001"}, headers=ministry
    )
    assert theirs["id"] in {row["ID UMKM"] for row in parse_csv(r.content)}
    r = await client.get("/v1/exports/umkm.csv", params={"wilayah": "31.7x"}, headers=ministry)
    assert r.status_code == 422


async def test_export_is_formula_safe_and_never_shows_the_nik(client, dinas):
    village, nik = desa(), valid_nik()
    evil = await register(
        client, dinas, village_code=village, owner_nik=nik,
        business_name='=HYPERLINK("http://evil.example","klik")', owner_name="@budi",
        address="+62 812 3456 7890", products=["-Keripik", "Rempeyek"],
    )  # fmt: skip
    params = {"wilayah": village}
    body = (await client.get("/v1/exports/umkm.csv", params=params, headers=dinas)).content
    (row,) = [r for r in parse_csv(body) if r["ID UMKM"] == evil["id"]]
    assert row["Nama Usaha"] == "'" + evil["business_name"]
    assert row["Nama Pemilik"] == "'" + evil["owner"]["name"]
    assert row["Alamat"] == "'+62 812 3456 7890"
    assert row["Produk"] == "'-Keripik, Rempeyek"
    assert row["NIK Pemilik"] == evil["owner"]["nik_masked"] and "*" in row["NIK Pemilik"]
    assert row["Latitude"].startswith("-")  # numbers stay numbers
    for key, value in row.items():
        assert key in NUMERIC or not value.startswith(DANGEROUS), (key, value)
    assert nik.encode() not in body

    body = (await client.get("/v1/exports/umkm.xlsx", params=params, headers=dinas)).content
    rows, ws = parse_xlsx(body)
    (xrow,) = [r for r in rows if r["ID UMKM"] == evil["id"]]
    assert xrow["Nama Usaha"] == "'" + evil["business_name"]
    assert isinstance(xrow["Latitude"], float) and xrow["Latitude"] < 0
    assert all(c.data_type != "f" for line in ws.iter_rows() for c in line)  # no formula at all
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert all(nik.encode() not in z.read(name) for name in z.namelist())


async def test_semicolon_csv_for_indonesian_excel(client, dinas):
    village = desa()
    created = await register(client, dinas, village_code=village, owner_nik=valid_nik())
    r = await client.get(
        "/v1/exports/umkm.csv", params={"wilayah": village, "delimiter": "semicolon"}, headers=dinas
    )
    (row,) = parse_csv(r.content, delimiter=";")
    assert row["ID UMKM"] == created["id"]


async def test_export_header_gives_the_change_feed_cursor_to_continue_from(client, dinas):
    village = desa()
    await register(client, dinas, village_code=village, owner_nik=valid_nik())
    r = await client.get("/v1/exports/umkm.csv", params={"wilayah": village}, headers=dinas)
    since = r.headers["x-change-feed-since"]
    later = await register(client, dinas, village_code=village, owner_nik=valid_nik())
    async with asyncio.timeout(10):
        while True:
            feed = await client.get(
                "/v1/changes", params={"since": since, "limit": 1000}, headers=dinas
            )
            assert feed.status_code == 200, feed.text
            if later["id"] in {i["umkm_id"] for i in feed.json()["items"]}:
                break
            await asyncio.sleep(0.05)


_BULK = text(
    """
    INSERT INTO umkm (province_code, id, regency_code, district_code, village_code, business_name,
                      business_name_search, owner_name, owner_nik_encrypted, owner_nik_hash,
                      owner_nik_masked, kbli_version, kbli_code, capital_idr, scale, workforce)
    SELECT '35', gen_random_uuid(), '35.01', '35.01.01', :village, 'Usaha ' || i, 'usaha ' || i,
           'Pemilik ' || i, '\\x00'::bytea, md5(:salt || i), '3501************', '2020', '10794',
           1000000 + i, 'mikro', i % 7
      FROM generate_series(1, :n) AS i
    RETURNING id
    """
)


async def test_large_export_streams_in_batches(client, app, runtime: ServiceRuntime, ministry):
    village, n = "35.01.01.2001", 3000
    async with runtime.db.transaction() as s:
        ids = sorted(
            str(i)
            for i in (
                await s.execute(_BULK, {"village": village, "salt": str(uuid.uuid4()), "n": n})
            ).scalars()
        )
    dinas = mint(app, "dinas", wilayah="35.01")
    params = {"wilayah": village}
    want = sorted(i["id"] for i in await search_all(client, dinas, **params))
    assert set(ids) <= set(want) and len(want) >= n

    rows = parse_csv(
        (await client.get("/v1/exports/umkm.csv", params=params, headers=dinas)).content
    )
    assert [r["ID UMKM"] for r in rows] == want
    xrows, _ = parse_xlsx(
        (await client.get("/v1/exports/umkm.xlsx", params=params, headers=ministry)).content
    )
    assert [r["ID UMKM"] for r in xrows] == want
    assert {r["ID UMKM"]: r["Modal Usaha"] for r in xrows}[ids[0]] >= 1_000_001

    # the body is produced batch by batch: one chunk for the header, one per batch
    ctx = app.state.registry
    filters = SearchFilters(wilayah=village)
    chunks = [c async for c in csv_stream(ctx, filters, "35.01")]
    assert len(chunks) == 1 + -(-len(want) // BATCH)
    sizes = [len(b) async for b in batches(ctx, filters, None, size=700)]
    assert max(sizes) == 700 and sum(sizes) == len(want)
