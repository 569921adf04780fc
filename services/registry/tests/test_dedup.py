"""Duplicate detection and review against a real PostgreSQL: which pairs become candidates,
set-based idempotent detection, region scoping, merge semantics (fields, NIB claim, history,
change feed, events, search), keep-both, final decisions."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from registry_support import idem, mint, new_umkm, valid_nik
from sqlalchemy import func, or_, select

from umkm_registry.dedup import CANDIDATE_THRESHOLD, detect_candidates
from umkm_registry.dedup.models import DuplicateCandidate, MergeHistory
from umkm_registry.dedup.rules import merge_fill, name_similarity
from umkm_registry.models import Umkm, UmkmNib, messaging_tables
from umkm_shared import reference
from umkm_shared.ids import new_id
from umkm_shared.runtime import ServiceRuntime

# Desa of Kota Bandung from the end of the list (the usual test desa is at its start).
_BANDUNG_DESA = [
    v.code
    for d in reference.wilayah().children("32.73")
    for v in reference.wilayah().children(d.code)
][::-1]
_next_desa = iter(_BANDUNG_DESA)
_rand = random.Random()


def desa() -> str:
    return next(_next_desa)


def nik() -> str:
    return valid_nik(
        day=_rand.randint(1, 28), month=_rand.randint(1, 12), year2=_rand.randint(60, 99)
    )


def nib() -> str:
    return f"95{uuid.uuid4().int % 10**11:011d}"


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], **over: Any
) -> dict[str, Any]:
    r = await client.post("/v1/umkm", json=new_umkm(**over), headers=headers | idem())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def candidates_between(runtime: ServiceRuntime, *ids: str) -> list[DuplicateCandidate]:
    """Candidate rows whose two records are both among `ids`."""
    wanted = [uuid.UUID(i) for i in ids]
    async with runtime.db.session() as s:
        rows = await s.execute(
            select(DuplicateCandidate)
            .where(DuplicateCandidate.umkm_a.in_(wanted), DuplicateCandidate.umkm_b.in_(wanted))
            .order_by(DuplicateCandidate.id)
        )
        return list(rows.scalars())


async def candidate_pair(runtime: ServiceRuntime, x: str, y: str) -> DuplicateCandidate:
    found = await candidates_between(runtime, x, y)
    assert len(found) == 1, found
    return found[0]


async def insert_direct(app: FastAPI, runtime: ServiceRuntime, **over: Any) -> uuid.UUID:
    """A record written the way the bulk import writes (no detection call)."""
    vault = app.state.registry.vault
    village = over.pop("village_code")
    owner_nik = over.pop("owner_nik")
    name = over.pop("business_name", "Keripik Tempe Bu Sri")
    p = village.split(".")
    now = datetime.now(UTC)
    row = Umkm(
        id=new_id(),
        province_code=p[0],
        regency_code=".".join(p[:2]),
        district_code=".".join(p[:3]),
        village_code=village,
        business_name=name,
        business_name_search=" ".join(name.lower().split()),
        owner_name="Sri Wahyuni",
        owner_nik_encrypted=vault.encrypt(owner_nik),
        owner_nik_hash=vault.lookup_hash(owner_nik),
        owner_nik_masked=vault.mask(owner_nik),
        nib=over.pop("nib", None),
        kbli_version="2020",
        kbli_code="10794",
        kbli_others=[],
        location_approximate=True,
        capital_idr=50_000_000,
        scale="mikro",
        products=[],
        certifications=[],
        status=over.pop("status", "active"),
        version=1,
        created_at=now,
        updated_at=now,
        **over,
    )
    async with runtime.db.transaction() as s:
        s.add(row)
        if row.nib:
            s.add(UmkmNib(nib=row.nib, umkm_id=row.id, province_code=row.province_code))
    return row.id


# --- rules ------------------------------------------------------------------------------------


def test_name_similarity_threshold_separates_typos_from_other_businesses() -> None:
    assert CANDIDATE_THRESHOLD == 85.0
    same = [
        ("Keripik Tempe Bu Sri", "KRIPIK TEMPE BU SRI"),
        ("Keripik Tempe Bu Sri", "UD. Keripik Tempe Bu Sri"),
        ("Bengkel Motor Jaya", "Bengkel Jaya Motor"),
        ("Toko Kelontong Maju Jaya", "Kelontong Maju Jaya"),
    ]
    different = [
        ("Warung Bu Sri", "Laundry Bu Sri"),
        ("Warung Nasi Ibu Ani", "Warung Kopi Ibu Ani"),
        ("Keripik Tempe Bu Sri", "Warung Kopi Sri"),
        ("Toko Sembako Berkah", "Toko Bangunan Berkah"),
    ]
    for a, b in same:
        assert name_similarity(a, b) >= CANDIDATE_THRESHOLD, (a, b)
    for a, b in different:
        assert name_similarity(a, b) < CANDIDATE_THRESHOLD, (a, b)


def test_merge_fill_takes_only_what_the_survivor_lacks() -> None:
    survivor = {
        "nib": None, "npwp": "0123456789012000", "address": None, "capital_idr": 10,
        "annual_sales_idr": None, "workforce": None, "founded_on": None,
        "location_approximate": True, "latitude": -6.9, "longitude": 107.6,
        "products": ["Keripik tempe"], "certifications": [{"kind": "halal", "number": "A1", "valid_until": None}],
        "kbli_version": "2020", "kbli_code": "10794", "kbli_others": [],
    }  # fmt: skip
    merged = survivor | {
        "nib": "9100000000001", "npwp": "0999999999999000", "address": "Jl. Baru 1",
        "capital_idr": 99, "workforce": 4, "location_approximate": False,
        "latitude": -6.91, "longitude": 107.61,
        "products": ["KERIPIK TEMPE", "Keripik singkong"],
        "certifications": [{"kind": "halal", "number": "a1", "valid_until": None},
                           {"kind": "pirt", "number": "P-7", "valid_until": "2030-01-01"}],
        "kbli_code": "47111", "kbli_others": [{"version": "2020", "code": "10794"}],
    }  # fmt: skip
    fill = merge_fill(survivor, merged)
    assert fill == {
        "nib": "9100000000001",
        "address": "Jl. Baru 1",
        "workforce": 4,
        "latitude": -6.91,
        "longitude": 107.61,
        "products": ["Keripik tempe", "Keripik singkong"],
        "certifications": [
            {"kind": "halal", "number": "A1", "valid_until": None},
            {"kind": "pirt", "number": "P-7", "valid_until": "2030-01-01"},
        ],
        "kbli_others": [{"version": "2020", "code": "47111"}],
    }
    assert merge_fill(survivor, survivor) == {}


# --- detection --------------------------------------------------------------------------------


async def test_same_owner_similar_name_same_desa_without_nib_is_a_candidate(client, dinas, runtime):
    village, owner = desa(), nik()
    a = await register(client, dinas, village_code=village, owner_nik=owner)
    b = await register(
        client, dinas, village_code=village, owner_nik=owner, business_name="KRIPIK TEMPE BU SRI"
    )
    cand = await candidate_pair(runtime, a["id"], b["id"])
    assert (str(cand.umkm_a), str(cand.umkm_b)) == tuple(sorted((a["id"], b["id"])))
    assert cand.status == "open" and cand.decided_at is None
    assert cand.score >= CANDIDATE_THRESHOLD
    assert cand.village_code == village and cand.province_code == "32"
    assert "neither has an NIB" in cand.reason

    # detection again adds nothing (the registration already ran it)
    async with runtime.db.transaction() as s:
        assert await detect_candidates(s, [uuid.UUID(a["id"]), uuid.UUID(b["id"])]) == 0
    assert len(await candidates_between(runtime, a["id"], b["id"])) == 1


async def test_one_side_with_nib_is_still_a_candidate(client, dinas, runtime):
    village, owner = desa(), nik()
    a = await register(client, dinas, village_code=village, owner_nik=owner, nib=nib())
    b = await register(client, dinas, village_code=village, owner_nik=owner)
    cand = await candidate_pair(runtime, a["id"], b["id"])
    assert "only one has an NIB" in cand.reason


async def test_no_candidate_for_other_desa_other_owner_other_name_or_two_nibs(
    client, dinas, runtime
):
    village, owner = desa(), nik()
    base = await register(client, dinas, village_code=village, owner_nik=owner)
    other_desa = await register(client, dinas, village_code=desa(), owner_nik=owner)
    other_owner = await register(client, dinas, village_code=village, owner_nik=nik())
    other_name = await register(
        client, dinas, village_code=village, owner_nik=owner, business_name="Laundry Kiloan Bu Sri"
    )
    village2, owner2 = desa(), nik()
    with_nib = await register(client, dinas, village_code=village2, owner_nik=owner2, nib=nib())
    other_nib = await register(client, dinas, village_code=village2, owner_nik=owner2, nib=nib())
    assert name_similarity(base["business_name"], other_name["business_name"]) < CANDIDATE_THRESHOLD

    ids = [base, other_desa, other_owner, other_name, with_nib, other_nib]
    assert await candidates_between(runtime, *(r["id"] for r in ids)) == []
    async with runtime.db.transaction() as s:
        assert await detect_candidates(s, [uuid.UUID(r["id"]) for r in ids]) == 0


async def test_detection_is_set_based_and_idempotent_for_bulk_writers(app, runtime):
    """What the bulk import does: insert a chunk, then one call with all its ids."""
    village, owner, owner2 = desa(), nik(), nik()
    ids = [
        await insert_direct(app, runtime, village_code=village, owner_nik=owner),
        await insert_direct(app, runtime, village_code=village, owner_nik=owner,
                            business_name="Keripik Tempe Sri"),
        await insert_direct(app, runtime, village_code=village, owner_nik=owner,
                            business_name="Kripik Tempe Bu Sri", nib=nib()),
        await insert_direct(app, runtime, village_code=village, owner_nik=owner2),
        await insert_direct(app, runtime, village_code=village, owner_nik=owner2,
                            business_name="Keripik Tempe Bu Sri", status="inactive"),
    ]  # fmt: skip
    async with runtime.db.transaction() as s:
        assert await detect_candidates(s, ids) == 3  # the three of `owner`, pairwise
    async with runtime.db.transaction() as s:
        assert await detect_candidates(s, ids) == 0
        assert await detect_candidates(s, []) == 0
    pairs = await candidates_between(runtime, *(str(i) for i in ids))
    assert {(c.umkm_a, c.umkm_b) for c in pairs} == {
        tuple(sorted(p)) for p in ((ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2]))
    }


async def test_changing_name_or_owner_runs_detection(client, dinas, runtime):
    village, owner = desa(), nik()
    a = await register(client, dinas, village_code=village, owner_nik=owner)
    b = await register(
        client, dinas, village_code=village, owner_nik=nik(), business_name="Bengkel Las Jaya"
    )
    assert await candidates_between(runtime, a["id"], b["id"]) == []
    r = await client.patch(
        f"/v1/umkm/{b['id']}", json={"owner_nik": owner}, headers=dinas | {"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert await candidates_between(runtime, a["id"], b["id"]) == []  # name still different
    r = await client.patch(
        f"/v1/umkm/{b['id']}",
        json={"business_name": "Keripik Tempe Ibu Sri"},
        headers=dinas | {"If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    await candidate_pair(runtime, a["id"], b["id"])


async def test_a_change_that_breaks_the_rules_closes_the_open_candidate(client, dinas, runtime):
    a, b, cand = await make_pair(client, dinas, runtime)
    r = await client.patch(
        f"/v1/umkm/{b['id']}", json={"village_code": desa()}, headers=dinas | {"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    cand = await candidate_pair(runtime, a["id"], b["id"])
    assert cand.status == "superseded" and "no longer meets" in (cand.note or "")
    assert cand.decided_by == "registry:dedup" and cand.decided_at is not None


# --- review API -------------------------------------------------------------------------------


async def make_pair(client: httpx.AsyncClient, headers: dict[str, str], runtime: ServiceRuntime,
                    village: str | None = None, a_over: dict[str, Any] | None = None,
                    b_over: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any], DuplicateCandidate]:  # fmt: skip
    village = village or desa()
    owner = valid_nik("317101") if village.startswith("31") else nik()
    a = await register(client, headers, village_code=village, owner_nik=owner, **(a_over or {}))
    b = await register(client, headers, village_code=village, owner_nik=owner,
                       **({"business_name": "Kripik Tempe Bu Sri"} | (b_over or {})))  # fmt: skip
    return a, b, await candidate_pair(runtime, a["id"], b["id"])


async def list_ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        q = params | ({"cursor": cursor} if cursor else {}) | {"limit": 200}
        r = await client.get("/v1/duplicate-candidates", params=q, headers=headers)
        assert r.status_code == 200, r.text
        ids += [i["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return ids


async def test_list_shows_both_records_and_a_dinas_sees_only_its_wilayah(
    client, app, dinas, ministry, runtime
):
    jakarta = mint(app, "dinas", wilayah="31")
    a, b, bandung_cand = await make_pair(client, dinas, runtime)
    _, _, jakarta_cand = await make_pair(client, jakarta, runtime, village="31.71.01.1001")

    r = await client.get(
        "/v1/duplicate-candidates",
        params={"wilayah": a["wilayah"]["village"]["code"]},
        headers=dinas,
    )
    assert r.status_code == 200, r.text
    (item,) = [i for i in r.json()["items"] if i["id"] == str(bandung_cand.id)]
    assert {item["a"]["id"], item["b"]["id"]} == {a["id"], b["id"]}
    assert item["a"]["owner"]["nik_masked"] == a["owner"]["nik_masked"]
    assert item["score"] == bandung_cand.score and item["status"] == "open"
    assert item["allowed"] == ["merge", "keep-both"]

    mine = await list_ids(client, dinas)
    assert str(bandung_cand.id) in mine and str(jakarta_cand.id) not in mine
    theirs = await list_ids(client, jakarta)
    assert str(jakarta_cand.id) in theirs and str(bandung_cand.id) not in theirs
    everything = await list_ids(client, ministry, status="all")
    assert {str(bandung_cand.id), str(jakarta_cand.id)} <= set(everything)
    assert str(jakarta_cand.id) in await list_ids(client, ministry, wilayah="31.71")

    assert (
        await client.get("/v1/duplicate-candidates", params={"wilayah": "31"}, headers=dinas)
    ).status_code == 403
    assert (
        await client.get(f"/v1/duplicate-candidates/{jakarta_cand.id}", headers=dinas)
    ).status_code == 403
    assert (
        await client.get(f"/v1/duplicate-candidates/{bandung_cand.id}", headers=dinas)
    ).status_code == 200
    assert (
        await client.get(f"/v1/duplicate-candidates/{uuid.uuid4()}", headers=dinas)
    ).status_code == 404
    bank = mint(app, "bank", actor_id="bank-a")
    assert (await client.get("/v1/duplicate-candidates", headers=bank)).status_code == 403
    # another Dinas can decide nothing here
    url = f"/v1/duplicate-candidates/{bandung_cand.id}"
    assert (
        await client.post(f"{url}/merge", json={"keep": "a"}, headers=jakarta)
    ).status_code == 403
    assert (await client.post(f"{url}/keep-both", headers=jakarta)).status_code == 403
    assert (await candidate_pair(runtime, a["id"], b["id"])).status == "open"


async def feed_position(client: httpx.AsyncClient, headers: dict[str, str], *ids: str) -> str:
    """The change-feed cursor once the feed has served the registrations of `ids` (the feed
    holds back rows while an older transaction, e.g. the outbox relay's, is still running)."""
    since, waiting = None, set(ids)
    async with asyncio.timeout(10):
        while True:
            params = {"limit": 1000} | ({"since": since} if since else {})
            body = (await client.get("/v1/changes", params=params, headers=headers)).json()
            waiting -= {i["umkm_id"] for i in body["items"]}
            since = body["next_since"]
            if not body["items"]:
                if not waiting:
                    return str(since)
                await asyncio.sleep(0.05)


async def feed_items(
    client: httpx.AsyncClient, headers: dict[str, str], since: str, ids: set[str], count: int
) -> list[dict[str, Any]]:
    """The feed's items about `ids` after `since`, once there are `count` of them."""
    async with asyncio.timeout(10):
        while True:
            r = await client.get(
                "/v1/changes", params={"since": since, "limit": 1000}, headers=headers
            )
            items = [i for i in r.json()["items"] if i["umkm_id"] in ids]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.05)


async def test_merge_moves_fields_keeps_history_and_tells_everyone(client, dinas, runtime):
    loser_nib = nib()
    a, b, cand = await make_pair(
        client, dinas, runtime,
        a_over={"products": ["Keripik tempe"], "npwp": None},
        b_over={"nib": loser_nib, "npwp": "0123456789012345", "products": ["Keripik tempe", "Rempeyek"],
                "kbli": {"version": "2020", "code": "47111"},
                "certifications": [{"kind": "pirt", "number": "P-IRT 123"}]},
    )  # fmt: skip
    since = await feed_position(client, dinas, a["id"], b["id"])
    r = await client.post(
        f"/v1/duplicate-candidates/{cand.id}/merge", json={"survivor": a["id"]}, headers=dinas
    )
    assert r.status_code == 200, r.text
    body = r.json()
    survivor, merged = body["survivor"], body["merged"]
    assert body["candidate"]["status"] == "merged" and body["candidate"]["allowed"] == []
    assert body["candidate"]["survivor_id"] == a["id"]
    # the survivor took what it lacked and got a new version
    assert survivor["id"] == a["id"] and survivor["version"] == 2 and survivor["status"] == "active"
    assert survivor["nib"] == loser_nib and survivor["npwp"] == "0123456789012345"
    assert survivor["products"] == ["Keripik tempe", "Rempeyek"]
    assert {c["kind"] for c in survivor["certifications"]} == {"halal", "pirt"}
    assert {k["code"] for k in survivor["kbli_others"]} == {"47111"}
    assert survivor["business_name"] == a["business_name"]  # nothing it had is overwritten
    # the merged record stays readable, pointing at the survivor
    assert merged["status"] == "merged" and merged["merged_into"] == a["id"]
    assert merged["version"] == 2 and merged["nib"] is None
    r = await client.get(f"/v1/umkm/{b['id']}", headers=dinas)
    assert r.json()["status"] == "merged" and r.json()["merged_into"] == a["id"]
    assert (await client.get(f"/v1/umkm/{a['id']}", headers=dinas)).json()["merged_into"] is None
    # the NIB claim moved: the NIB now belongs to the survivor
    r = await client.post("/v1/umkm", json=new_umkm(nib=loser_nib), headers=dinas | idem())
    assert r.status_code == 409 and r.json()["existing_id"] == a["id"]
    # a merged record cannot change any more
    r = await client.patch(
        f"/v1/umkm/{b['id']}", json={"workforce": 1}, headers=dinas | {"If-Match": '"2"'}
    )
    assert r.status_code == 409
    # history: the merged record as it was
    r = await client.get(f"/v1/umkm/{a['id']}/merge-history", headers=dinas)
    (entry,) = r.json()
    assert entry["merged_id"] == b["id"] and entry["candidate_id"] == str(cand.id)
    assert (
        entry["merged_record"]["nib"] == loser_nib and entry["merged_record"]["status"] == "active"
    )
    assert entry["survivor_before"]["nib"] is None
    assert {"nib", "npwp", "products", "certifications", "kbli_others"} <= set(
        entry["filled_fields"]
    )
    assert entry["decided_by"].startswith("test-dinas-")
    assert (await client.get(f"/v1/umkm/{b['id']}/merge-history", headers=dinas)).json() == [entry]
    # change feed: merged (with merged_into), then updated for the survivor
    items = await feed_items(client, dinas, since, {a["id"], b["id"]}, 2)
    feed = [(i["change"], i["umkm_id"], i["merged_into"], i["version"]) for i in items]
    assert feed == [("merged", b["id"], a["id"], 2), ("updated", a["id"], None, 2)]
    # events in the outbox: UmkmMerged keyed by the merged record, UmkmUpdated by the survivor
    outbox = messaging_tables.outbox
    async with runtime.db.session() as s:
        rows = (
            await s.execute(
                select(outbox.c.type, outbox.c.key, outbox.c.data)
                .where(outbox.c.type.in_(["id.umkm.registry.umkm.merged.v1", "id.umkm.registry.umkm.updated.v1"]),
                       or_(outbox.c.key == a["id"], outbox.c.key == b["id"]))
                .order_by(outbox.c.id)
            )
        ).all()  # fmt: skip
    assert [(t, k) for t, k, _ in rows] == [
        ("id.umkm.registry.umkm.merged.v1", b["id"]),
        ("id.umkm.registry.umkm.updated.v1", a["id"]),
    ]
    merged_event, updated_event = rows[0][2], rows[1][2]
    assert merged_event["survivor_id"] == a["id"] and merged_event["merged_id"] == b["id"]
    assert merged_event["survivor_version"] == 2 and merged_event["merged_version"] == 2
    assert updated_event["umkm"]["nib"] == loser_nib and "nib" in updated_event["changed_fields"]
    # search: only the survivor is active
    village = a["wilayah"]["village"]["code"]
    r = await client.get("/v1/umkm", params={"wilayah": village, "limit": 500}, headers=dinas)
    active = {i["id"] for i in r.json()["items"]}
    assert a["id"] in active and b["id"] not in active
    r = await client.get("/v1/umkm", params={"wilayah": village, "status": "merged"}, headers=dinas)
    assert b["id"] in {i["id"] for i in r.json()["items"]}
    # decided: final
    url = f"/v1/duplicate-candidates/{cand.id}"
    for step, payload in (("merge", {"keep": "b"}), ("keep-both", None)):
        r = await client.post(f"{url}/{step}", json=payload, headers=dinas)
        assert r.status_code == 409, r.text
        assert r.json()["allowed"] == [] and "already decided (merged" in r.json()["detail"]
    async with runtime.db.session() as s:
        assert (
            await s.scalar(
                select(func.count())
                .select_from(MergeHistory)
                .where(MergeHistory.merged_id == uuid.UUID(b["id"]))
            )
            == 1
        )
        holder = await s.scalar(select(UmkmNib.umkm_id).where(UmkmNib.nib == loser_nib))
    assert str(holder) == a["id"]


async def test_merge_with_nothing_to_take_still_versions_the_survivor(client, ministry, runtime):
    a, b, cand = await make_pair(client, ministry, runtime)
    since = await feed_position(client, ministry, a["id"], b["id"])
    r = await client.post(
        f"/v1/duplicate-candidates/{cand.id}/merge", json={"keep": "b"}, headers=ministry
    )
    assert r.status_code == 200, r.text
    survivor_id = str(cand.umkm_b)
    assert r.json()["survivor"]["id"] == survivor_id and r.json()["survivor"]["version"] == 2
    items = await feed_items(client, ministry, since, {a["id"], b["id"]}, 2)
    changes = [(i["change"], i["umkm_id"]) for i in items]
    assert changes == [("merged", str(cand.umkm_a)), ("updated", survivor_id)]


async def test_keep_both_closes_the_candidate_for_good(client, dinas, runtime):
    a, b, cand = await make_pair(client, dinas, runtime)
    url = f"/v1/duplicate-candidates/{cand.id}"
    r = await client.post(f"{url}/keep-both", headers=dinas)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "kept_both" and r.json()["allowed"] == []
    assert r.json()["decided_by"].startswith("test-dinas-") and r.json()["decided_at"]
    for step, payload in (("keep-both", None), ("merge", {"keep": "a"})):
        r = await client.post(f"{url}/{step}", json=payload, headers=dinas)
        assert r.status_code == 409 and r.json()["allowed"] == []
        assert r.headers["content-type"].startswith("application/problem+json")
    # both records stay active and the pair is never raised again
    for rec in (a, b):
        assert (await client.get(f"/v1/umkm/{rec['id']}", headers=dinas)).json()[
            "status"
        ] == "active"
    async with runtime.db.transaction() as s:
        assert await detect_candidates(s, [uuid.UUID(a["id"]), uuid.UUID(b["id"])]) == 0
    assert str(cand.id) not in await list_ids(client, dinas)
    assert str(cand.id) in await list_ids(client, dinas, status="kept_both")


async def test_merge_body_and_state_are_checked(client, app, dinas, runtime):
    a, b, cand = await make_pair(client, dinas, runtime)
    url = f"/v1/duplicate-candidates/{cand.id}/merge"
    for payload in ({}, {"keep": "a", "survivor": a["id"]}, {"keep": "c"}, {"survivor": "x"}):
        assert (await client.post(url, json=payload, headers=dinas)).status_code == 422, payload
    r = await client.post(url, json={"survivor": str(uuid.uuid4())}, headers=dinas)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.survivor"
    reader = mint(app, "dinas", wilayah="32.73", scopes=frozenset({"registry:read"}))
    assert (await client.post(url, json={"keep": "a"}, headers=reader)).status_code == 403
    # a record deactivated meanwhile cannot be merged; keeping both is what is left
    r = await client.post(
        f"/v1/umkm/{b['id']}/deactivate", json={"reason": "Usaha tutup"}, headers=dinas
    )
    assert r.status_code == 200
    r = await client.post(url, json={"keep": "a"}, headers=dinas)
    assert r.status_code == 409 and r.json()["allowed"] == ["keep-both"]
    assert (
        await client.post(f"/v1/duplicate-candidates/{cand.id}/keep-both", headers=dinas)
    ).status_code == 200


async def test_merge_is_idempotent_with_a_key(client, dinas, runtime):
    _, _, cand = await make_pair(client, dinas, runtime)
    url = f"/v1/duplicate-candidates/{cand.id}/merge"
    key = idem()
    first = await client.post(url, json={"keep": "a"}, headers=dinas | key)
    again = await client.post(url, json={"keep": "a"}, headers=dinas | key)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    assert (await client.post(url, json={"keep": "a"}, headers=dinas)).status_code == 409


async def test_merge_closes_and_repoints_the_merged_records_other_candidates(
    app, client, dinas, runtime
):
    village, owner = desa(), nik()
    a = await insert_direct(app, runtime, village_code=village, owner_nik=owner)
    b = await insert_direct(
        app, runtime, village_code=village, owner_nik=owner, business_name="Kripik Tempe Bu Sri"
    )
    c = await insert_direct(
        app, runtime, village_code=village, owner_nik=owner, business_name="Keripik Tempe Sri"
    )
    async with runtime.db.transaction() as s:
        assert await detect_candidates(s, [b]) == 2  # a-b and b-c; a-c is not known yet
    ab = await candidate_pair(runtime, str(a), str(b))
    bc = await candidate_pair(runtime, str(b), str(c))
    assert await candidates_between(runtime, str(a), str(c)) == []
    r = await client.post(
        f"/v1/duplicate-candidates/{ab.id}/merge", json={"survivor": str(a)}, headers=dinas
    )
    assert r.status_code == 200, r.text
    bc = await candidate_pair(runtime, str(b), str(c))
    assert bc.status == "superseded" and str(b) in (bc.note or "") and bc.decided_at is not None
    ac = await candidate_pair(runtime, str(a), str(c))  # re-pointed to the survivor
    assert ac.status == "open"
    r = await client.post(
        f"/v1/duplicate-candidates/{bc.id}/merge", json={"keep": "a"}, headers=dinas
    )
    assert r.status_code == 409


async def test_merge_closes_survivor_candidates_that_now_have_two_nibs(client, dinas, runtime):
    village, owner = desa(), nik()
    a = await register(client, dinas, village_code=village, owner_nik=owner)
    b = await register(
        client,
        dinas,
        village_code=village,
        owner_nik=owner,
        nib=nib(),
        business_name="Kripik Tempe Bu Sri",
    )
    c = await register(
        client,
        dinas,
        village_code=village,
        owner_nik=owner,
        nib=nib(),
        business_name="Keripik Tempe Sri",
    )
    ab = await candidate_pair(runtime, a["id"], b["id"])
    ac = await candidate_pair(runtime, a["id"], c["id"])
    assert await candidates_between(runtime, b["id"], c["id"]) == []  # two NIBs
    r = await client.post(
        f"/v1/duplicate-candidates/{ab.id}/merge", json={"survivor": a["id"]}, headers=dinas
    )
    assert r.status_code == 200 and r.json()["survivor"]["nib"] == b["nib"]
    ac = await candidate_pair(runtime, a["id"], c["id"])
    assert ac.status == "superseded"  # a now has b's NIB, c has its own: two businesses
