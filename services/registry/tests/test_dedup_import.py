"""Duplicate-candidate detection in the bulk import (set-based over each merge batch): the import
queues exactly the pairs the API's `detect_candidates` would, for new records and for records
whose name, owner or desa an import changed; a re-import queues nothing; a change that takes a
pair out of the rules closes its open candidate."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from registry_support import BANDUNG_VILLAGE, idem, new_umkm, valid_nik
from sqlalchemy import delete, select, text
from test_imports_helpers import ImportApp, csv_bytes, import_app, run

from umkm_registry.dedup import detect_candidates
from umkm_registry.dedup.detection import detect_candidates_from
from umkm_registry.dedup.models import DuplicateCandidate
from umkm_registry.models import Umkm

HEADER = ["Nama Usaha", "Nama Pemilik", "NIK Pemilik", "NIB", "Kode KBLI", "Kode Wilayah",
          "Modal Usaha"]  # fmt: skip
OTHER_VILLAGE = "32.73.07.1001"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ia(make_database: Any, keys: dict[str, Any]) -> AsyncIterator[ImportApp]:
    async for x in import_app(make_database, keys, "dedupimp", merge_rows=1):
        yield x


def row(name: str, owner: str, nib: str = "", village: str = BANDUNG_VILLAGE) -> list[str]:
    return [name, "Sri Wahyuni", owner, nib, "10794", village, "Rp 50.000.000"]


async def records(ia: ImportApp, owner: str) -> dict[tuple[str, str], uuid.UUID]:
    """The owner's records by (business name, desa)."""
    vault = ia.app.state.registry.vault
    async with ia.runtime.db.session() as s:
        found = await s.execute(
            select(Umkm.business_name, Umkm.village_code, Umkm.id).where(
                Umkm.owner_nik_hash == vault.lookup_hash(owner)
            )
        )
        return {(name, village): id_ for name, village, id_ in found.all()}


async def pairs(ia: ImportApp, ids: list[uuid.UUID]) -> dict[frozenset[uuid.UUID], str]:
    async with ia.runtime.db.session() as s:
        found = await s.execute(
            select(DuplicateCandidate).where(
                DuplicateCandidate.umkm_a.in_(ids), DuplicateCandidate.umkm_b.in_(ids)
            )
        )
        return {frozenset((c.umkm_a, c.umkm_b)): c.status for c in found.scalars()}


def pair(a: uuid.UUID, b: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset((a, b))


async def test_the_import_queues_the_candidates_the_api_detection_would(ia: ImportApp) -> None:
    owner, other = valid_nik(day=12), valid_nik(day=13)
    h = ia.headers()
    r = await ia.client.post(
        "/v1/umkm",
        json=new_umkm(business_name="Keripik Tempe Ibu Sri", owner_nik=owner),
        headers=h | idem(),
    )
    assert r.status_code == 201, r.text
    nib = f"95{uuid.uuid4().int % 10**11:011d}"
    job = await run(ia, h, csv_bytes([
        HEADER,
        row("Keripik Tempe Bu Sri", owner),
        row("KRIPIK TEMPE BU SRI", owner),
        row("Laundry Bu Sri", owner),  # the same owner's other business: no candidate
        row("Warung Kopi Bu Sri", owner, nib=nib),
        row("Keripik Tempe Bu Sri", owner, village=OTHER_VILLAGE),  # another desa
        row("Keripik Tempe Bu Sri", other),  # another owner
    ]))  # fmt: skip
    assert job["status"] == "done" and job["counts"]["inserted"] == 6, job
    assert "warnings" not in job["summary"]
    ids = await records(ia, owner)
    here, there = BANDUNG_VILLAGE, OTHER_VILLAGE
    api = ids["Keripik Tempe Ibu Sri", here]
    a, b = ids["Keripik Tempe Bu Sri", here], ids["Kripik Tempe Bu Sri", here]
    everyone = list(ids.values()) + list((await records(ia, other)).values())
    assert await pairs(ia, everyone) == {pair(api, a): "open", pair(api, b): "open",
                                         pair(a, b): "open"}  # fmt: skip
    # nothing the API's detection would add, for any of them
    async with ia.runtime.db.transaction() as s:
        assert await detect_candidates(s, everyone) == 0

    # the same file again: nothing changes, nothing is queued
    again = await run(ia, h, csv_bytes([HEADER, row("Keripik Tempe Bu Sri", owner)]))
    assert again["counts"]["unchanged"] == 1
    assert len(await pairs(ia, everyone)) == 3

    # an import that renames the NIB business into the family: a candidate with each of them
    renamed = await run(ia, h, csv_bytes([HEADER, row("Keripik Tempe Sri", owner, nib=nib)]))
    assert renamed["counts"]["updated"] == 1, renamed
    warung = ids["Warung Kopi Bu Sri", here]
    found = await pairs(ia, everyone)
    assert {p: st for p, st in found.items() if warung in p} == {
        pair(warung, api): "open",
        pair(warung, a): "open",
        pair(warung, b): "open",
    }

    # ... and one that moves it to another desa closes those (superseded) and finds the
    # owner's record there
    moved = await run(ia, h, csv_bytes([
        HEADER, row("Keripik Tempe Sri", owner, nib=nib, village=there)
    ]))  # fmt: skip
    assert moved["counts"]["updated"] == 1, moved
    found = await pairs(ia, everyone)
    assert {p: st for p, st in found.items() if warung in p} == {
        pair(warung, api): "superseded", pair(warung, a): "superseded",
        pair(warung, b): "superseded", pair(warung, ids["Keripik Tempe Bu Sri", there]): "open",
    }  # fmt: skip
    async with ia.runtime.db.transaction() as s:
        assert await detect_candidates(s, everyone) == 0


async def test_detect_candidates_from_equals_detect_candidates(ia: ImportApp) -> None:
    """The relation-driven entry point finds the same pairs as the id-list one."""
    owner = valid_nik(day=14)
    h = ia.headers()
    names = ["Bengkel Motor Jaya", "Bengkel Jaya Motor", "BENGKEL MOTOR JAYA ABADI", "Jahit Bu Sri"]
    job = await run(ia, h, csv_bytes([HEADER, *(row(n, owner) for n in names)]))
    assert job["counts"]["inserted"] == 4
    ids = list((await records(ia, owner)).values())
    expected = await pairs(ia, ids)
    assert len(expected) == 3
    async with ia.runtime.db.transaction() as s:  # forget them, then find them again
        await s.execute(delete(DuplicateCandidate).where(DuplicateCandidate.umkm_a.in_(ids)))
        await s.execute(
            text(
                "CREATE TEMP TABLE some_new ON COMMIT DROP AS SELECT id, province_code "
                "FROM umkm WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": [str(i) for i in ids]},
        )
        assert await detect_candidates_from(s, new="some_new") == 3
        assert await detect_candidates_from(s, changed="some_new", new="some_new") == 0
    assert await pairs(ia, ids) == expected
