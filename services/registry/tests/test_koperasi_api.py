"""The koperasi registry and UMKM memberships over HTTP against a real PostgreSQL: validation,
Dinas scope, ETags, join/leave/re-join with history, illegal steps, events in the outbox, and the
koperasi actor who reads only its own members."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from registry_support import BANDUNG_VILLAGE, JAKARTA_VILLAGE, idem, mint, new_umkm, valid_nik
from sqlalchemy import func, select, update

from umkm_registry.koperasi.models import Koperasi, KoperasiMembership
from umkm_registry.models import Umkm, messaging_tables
from umkm_shared.runtime import ServiceRuntime

PROBLEM = "application/problem+json"
TOPIC = "umkm.registry.v1"
T_REGISTERED = "id.umkm.registry.koperasi.registered.v1"
T_UPDATED = "id.umkm.registry.koperasi.updated.v1"
T_STARTED = "id.umkm.registry.koperasi_membership.started.v1"
T_ENDED = "id.umkm.registry.koperasi_membership.ended.v1"

_serials = random.Random(uuid.uuid4().int).sample(range(1, 9_999_999), 500)


def legal_number() -> str:
    return f"AHU-{_serials.pop():07d}.AH.01.26.TAHUN 2021"


def new_koperasi(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "KOPERASI PRODUSEN TEMPE TAHU SUKAJADI",
        "legal_number": legal_number(),
        "type": "produsen",
        "wilayah_code": "32.73.07",
        "address": "Jl. Sukajadi No. 40",
    }
    body.update(over)
    return body


async def create_koperasi(
    client: httpx.AsyncClient, headers: dict[str, str], **over: Any
) -> dict[str, Any]:
    r = await client.post("/v1/koperasi", json=new_koperasi(**over), headers=headers | idem())
    assert r.status_code == 201, r.text
    return r.json()


async def create_umkm(client: httpx.AsyncClient, headers: dict[str, str], **over: Any) -> str:
    r = await client.post("/v1/umkm", json=new_umkm(**over), headers=headers | idem())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def join(
    client: httpx.AsyncClient, headers: dict[str, str], kop: str, umkm: str, **over: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/koperasi/{kop}/members", json={"umkm_id": umkm, **over}, headers=headers
    )


async def leave(
    client: httpx.AsyncClient, headers: dict[str, str], kop: str, umkm: str, **over: Any
) -> httpx.Response:
    body = {"reason": "Mengundurkan diri", **over}
    return await client.post(f"/v1/koperasi/{kop}/members/{umkm}/leave", json=body, headers=headers)


async def outbox_events(runtime: ServiceRuntime, key: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, topic, data) of the outbox rows with this message key, in creation order."""
    outbox = messaging_tables.outbox
    async with runtime.db.session() as s:
        rows = await s.execute(
            select(outbox.c.type, outbox.c.topic, outbox.c.data)
            .where(outbox.c.key == key)
            .order_by(outbox.c.id)
        )
    return [(t, topic, data) for t, topic, data in rows.all()]


def problem_fields(r: httpx.Response) -> list[str]:
    problem = r.json()
    return [e["field"] for e in problem.get("errors", [])] or [problem.get("field")]


# --- the koperasi registry ------------------------------------------------------------------


async def test_register_read_and_event(client, dinas, ministry, runtime):
    number = legal_number()
    typed = number.lower().replace(".tahun ", " Tahun ")  # same number, typed another way
    r = await client.post(
        "/v1/koperasi", json=new_koperasi(legal_number=typed), headers=dinas | idem()
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"].endswith(body["id"])
    assert body["legal_number"] == number
    assert body["name"] == "Koperasi Produsen Tempe Tahu Sukajadi"
    assert body["type"] == "produsen" and body["type_name"] == "Koperasi Produsen"
    assert body["wilayah"] == {"code": "32.73.07", "name": "Sukajadi"}
    assert body["regency"] == {"code": "32.73", "name": "Kota Bandung"}
    assert body["province"]["code"] == "32"
    assert body["status"] == "active" and body["dissolved_on"] is None

    r = await client.get(f"/v1/koperasi/{body['id']}", headers=ministry)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    assert r.json() == body

    events = await outbox_events(runtime, body["id"])
    assert [(t, topic) for t, topic, _ in events] == [(T_REGISTERED, TOPIC)]
    assert events[0][2]["koperasi"]["legal_number"] == number
    assert events[0][2]["koperasi"]["regency_code"] == "32.73"


async def test_register_is_idempotent(client, dinas, runtime):
    key = idem()
    body = new_koperasi()
    first = await client.post("/v1/koperasi", json=body, headers=dinas | key)
    again = await client.post("/v1/koperasi", json=body, headers=dinas | key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    async with runtime.db.session() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(Koperasi)
            .where(Koperasi.legal_number == body["legal_number"])
        )
    assert n == 1
    missing = await client.post("/v1/koperasi", json=new_koperasi(), headers=dinas)
    assert missing.status_code == 400


async def test_invalid_fields_answer_422_naming_field_and_reason(client, dinas, runtime):
    async with runtime.db.session() as s:
        before = await s.scalar(select(func.count()).select_from(Koperasi))
    cases = [
        ({"legal_number": "12345"}, "body.legal_number", "not a nomor badan hukum"),
        (
            {"legal_number": "AHU-0012423.AH.01.01.TAHUN 2021"},
            "body.legal_number",
            "not an AHU koperasi",
        ),
        ({"legal_number": "AHU-0012423.AH.01.26.TAHUN 2999"}, "body.legal_number", "year 2999"),
        ({"wilayah_code": "32"}, "body.wilayah_code", "province"),
        ({"wilayah_code": "32.73.99"}, "body.wilayah_code", "does not exist"),
        ({"wilayah_code": "banyak"}, "body.wilayah_code", ""),
        ({"type": "kredit"}, "body.type", "konsumen"),
        ({"name": ""}, "body.name", "at least 1"),
        ({"address": "x" * 501}, "body.address", "at most 500"),
        ({"surprise": 1}, "body.surprise", "extra inputs"),
    ]
    for over, field, reason in cases:
        r = await client.post("/v1/koperasi", json=new_koperasi(**over), headers=dinas | idem())
        assert r.status_code == 422, (over, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert any(f and f.startswith(field) for f in problem_fields(r)), (over, r.json())
        assert reason.lower() in r.text.lower(), (over, r.json())
    body = new_koperasi()
    del body["legal_number"]
    r = await client.post("/v1/koperasi", json=body, headers=dinas | idem())
    assert r.status_code == 422 and "body.legal_number" in problem_fields(r)
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Koperasi)) == before


async def test_same_legal_number_cannot_register_twice(client, dinas, ministry):
    first = await create_koperasi(client, dinas)
    # the same number in another spelling (6 digits, lower case) is the same number
    serial = first["legal_number"][4:11].lstrip("0")
    other = f"ahu-{serial}.ah.01.26 tahun 2021"
    r = await client.post(
        "/v1/koperasi", json=new_koperasi(legal_number=other), headers=ministry | idem()
    )
    assert r.status_code == 409, r.text
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["field"] == "body.legal_number"


async def test_dinas_works_only_inside_its_wilayah(client, app, dinas, ministry):
    r = await client.post(
        "/v1/koperasi", json=new_koperasi(wilayah_code="31.71"), headers=dinas | idem()
    )
    assert r.status_code == 403
    assert "outside your wilayah 32.73" in r.json()["detail"]
    jakarta_kop = await create_koperasi(client, ministry, wilayah_code="31.71.01")
    mine = await create_koperasi(client, dinas)
    assert (await client.get(f"/v1/koperasi/{jakarta_kop['id']}", headers=dinas)).status_code == 403
    r = await client.patch(
        f"/v1/koperasi/{jakarta_kop['id']}",
        json={"address": "x"},
        headers=dinas | {"If-Match": '"1"'},
    )
    assert r.status_code == 403
    # it cannot move its own koperasi out of its wilayah
    r = await client.patch(
        f"/v1/koperasi/{mine['id']}",
        json={"wilayah_code": "31.71"},
        headers=dinas | {"If-Match": '"1"'},
    )
    assert r.status_code == 403
    # its lists never show other regions, and asking for another region is refused
    r = await client.get("/v1/koperasi", params={"limit": 500, "status": "all"}, headers=dinas)
    assert r.status_code == 200
    assert r.json()["items"] and all(i["regency"]["code"] == "32.73" for i in r.json()["items"])
    assert (
        await client.get("/v1/koperasi", params={"wilayah": "31"}, headers=dinas)
    ).status_code == 403
    # a provincial Dinas (Jawa Barat) reads the Bandung koperasi
    province = mint(app, "dinas", wilayah="32")
    assert (await client.get(f"/v1/koperasi/{mine['id']}", headers=province)).status_code == 200
    assert (
        await client.get(f"/v1/koperasi/{jakarta_kop['id']}", headers=province)
    ).status_code == 403


async def test_search_filters_and_cursor(client, ministry):
    token = uuid.uuid4().hex[:8]
    made = [
        await create_koperasi(
            client, ministry, name=f"KSP Sejahtera {token} Satu", type="simpan_pinjam"
        ),
        await create_koperasi(
            client,
            ministry,
            name=f"KSP Sejahtera {token} Dua",
            type="simpan_pinjam",
            wilayah_code="32.73.01",
        ),
        await create_koperasi(
            client,
            ministry,
            name=f"Koperasi Konsumen {token}",
            type="konsumen",
            wilayah_code="31.71",
        ),
    ]
    ids = [k["id"] for k in made]

    async def found(**params: Any) -> list[str]:
        r = await client.get("/v1/koperasi", params={"q": token, **params}, headers=ministry)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await found() == ids
    assert await found(type="simpan_pinjam") == ids[:2]
    assert await found(type=["simpan_pinjam", "konsumen"]) == ids
    assert await found(wilayah="32.73.01") == [ids[1]]
    assert await found(wilayah="3273") == ids[:2]
    assert await found(wilayah="31") == [ids[2]]
    # by legal number prefix
    r = await client.get(
        "/v1/koperasi", params={"q": made[2]["legal_number"][:11]}, headers=ministry
    )
    assert [i["id"] for i in r.json()["items"]] == [ids[2]]
    # pages of one
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"q": token, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/koperasi", params=params, headers=ministry)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    for params in ({"type": "kredit"}, {"wilayah": "99"}, {"cursor": "%%%"}, {"status": "gone"}):
        r = await client.get("/v1/koperasi", params=params, headers=ministry)
        assert r.status_code == 422, (params, r.text)


async def test_patch_needs_current_etag_and_writes_event(client, dinas, ministry, runtime):
    kop = await create_koperasi(client, dinas)
    url = f"/v1/koperasi/{kop['id']}"
    assert (await client.patch(url, json={"type": "serba_usaha"}, headers=dinas)).status_code == 428
    r = await client.patch(url, json={"type": "serba_usaha"}, headers=dinas | {"If-Match": '"7"'})
    assert r.status_code == 412 and r.json()["current_version"] == 1
    r = await client.patch(
        url,
        json={
            "type": "serba_usaha",
            "name": "KSU SUKAJADI MANDIRI",
            "wilayah_code": "32.73.07.1002",
        },
        headers=dinas | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    body = r.json()
    assert (body["type"], body["wilayah"]["code"], body["version"]) == (
        "serba_usaha",
        "32.73.07.1002",
        2,
    )
    # nothing changed: no new version
    r = await client.patch(url, json={"type": "serba_usaha"}, headers=dinas | {"If-Match": '"2"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    # invalid values and a taken legal number
    r = await client.patch(url, json={"legal_number": "nope"}, headers=dinas | {"If-Match": '"2"'})
    assert r.status_code == 422 and problem_fields(r) == ["body.legal_number"]
    r = await client.patch(url, json={"name": None}, headers=dinas | {"If-Match": '"2"'})
    assert r.status_code == 422 and "cannot be cleared" in r.text
    other = await create_koperasi(client, ministry)
    r = await client.patch(
        url, json={"legal_number": other["legal_number"]}, headers=dinas | {"If-Match": '"2"'}
    )
    assert r.status_code == 409 and r.json()["existing_id"] == other["id"]
    events = await outbox_events(runtime, kop["id"])
    assert [t for t, _, _ in events] == [T_REGISTERED, T_UPDATED]
    assert events[1][2]["changed_fields"] == ["name", "type", "wilayah_code"]
    assert events[1][2]["koperasi"]["version"] == 2


# --- memberships ----------------------------------------------------------------------------


async def test_join_leave_rejoin_keeps_history_and_writes_events(client, dinas, runtime):
    kop = (await create_koperasi(client, dinas))["id"]
    umkm = await create_umkm(client, dinas)
    r = await join(client, dinas, kop, umkm, joined_on="2024-01-15")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["open"] is True and first["joined_on"] == "2024-01-15" and first["left_on"] is None
    assert first["umkm"]["id"] == umkm

    # joining twice while open is refused
    r = await join(client, dinas, kop, umkm)
    assert r.status_code == 409 and "already a member" in r.json()["detail"]
    assert r.json()["membership_id"] == first["membership_id"]

    r = await leave(
        client, dinas, kop, umkm, left_on="2025-06-30", reason="Pindah ke koperasi lain"
    )
    assert r.status_code == 200, r.text
    assert r.json()["left_on"] == "2025-06-30" and r.json()["open"] is False
    assert r.json()["left_reason"] == "Pindah ke koperasi lain"
    # leaving when not a member is refused
    r = await leave(client, dinas, kop, umkm)
    assert r.status_code == 409 and "not a member" in r.json()["detail"]

    r = await join(client, dinas, kop, umkm, joined_on="2025-09-01")
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["membership_id"] != first["membership_id"]

    r = await client.get(f"/v1/koperasi/{kop}/members", headers=dinas)
    assert [m["membership_id"] for m in r.json()["items"]] == [second["membership_id"]]
    r = await client.get(
        f"/v1/koperasi/{kop}/members", params={"include_history": "true"}, headers=dinas
    )
    history = r.json()["items"]
    assert [(m["joined_on"], m["left_on"]) for m in history] == [
        ("2024-01-15", "2025-06-30"),
        ("2025-09-01", None),
    ]
    r = await client.get(f"/v1/umkm/{umkm}/koperasi", headers=dinas)
    assert r.status_code == 200
    assert [(m["koperasi"]["id"], m["open"]) for m in r.json()] == [(kop, False), (kop, True)]

    async with runtime.db.session() as s:
        rows = (
            (
                await s.execute(
                    select(KoperasiMembership).where(KoperasiMembership.umkm_id == uuid.UUID(umkm))
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == 2 and all(
        r.created_by and r.created_by.startswith("test-dinas") for r in rows
    )

    # membership events are keyed by the UMKM: ordered with its registration
    events = await outbox_events(runtime, umkm)
    assert [(t, topic) for t, topic, _ in events] == [
        ("id.umkm.registry.umkm.registered.v1", TOPIC),
        (T_STARTED, TOPIC),
        (T_ENDED, TOPIC),
        (T_STARTED, TOPIC),
    ]
    started, ended = events[1][2], events[2][2]
    assert started["koperasi_id"] == kop and started["joined_on"] == "2024-01-15"
    assert (
        started["membership_id"] == first["membership_id"]
        and started["koperasi_type"] == "produsen"
    )
    assert started["umkm_province_code"] == "32"
    assert ended["left_on"] == "2025-06-30" and ended["cause"] == "left"
    assert ended["reason"] == "Pindah ke koperasi lain"


async def test_an_umkm_may_belong_to_several_koperasi(client, dinas):
    umkm = await create_umkm(client, dinas)
    a = (await create_koperasi(client, dinas, type="simpan_pinjam"))["id"]
    b = (await create_koperasi(client, dinas, type="pemasaran"))["id"]
    assert (await join(client, dinas, a, umkm)).status_code == 201
    assert (await join(client, dinas, b, umkm)).status_code == 201
    r = await client.get(f"/v1/umkm/{umkm}/koperasi", headers=dinas)
    assert sorted(m["koperasi"]["id"] for m in r.json() if m["open"]) == sorted([a, b])


async def test_membership_dates_must_be_sane(client, dinas):
    kop = (await create_koperasi(client, dinas))["id"]
    umkm = await create_umkm(client, dinas)
    tomorrow = (date.today() + timedelta(days=3)).isoformat()
    r = await join(client, dinas, kop, umkm, joined_on=tomorrow)
    assert r.status_code == 422 and problem_fields(r) == ["body.joined_on"] and "future" in r.text
    r = await join(client, dinas, kop, umkm, joined_on="1800-01-01")
    assert r.status_code == 422 and problem_fields(r) == ["body.joined_on"]
    assert (await join(client, dinas, kop, umkm, joined_on="2024-03-01")).status_code == 201
    r = await leave(client, dinas, kop, umkm, left_on="2024-02-28")
    assert r.status_code == 422 and problem_fields(r) == ["body.left_on"] and "before" in r.text
    r = await leave(client, dinas, kop, umkm, left_on=tomorrow)
    assert r.status_code == 422 and problem_fields(r) == ["body.left_on"]
    r = await leave(client, dinas, kop, umkm, reason="")
    assert r.status_code == 422 and problem_fields(r) == ["body.reason"]
    assert (
        await leave(client, dinas, kop, umkm, left_on="2024-03-01")
    ).status_code == 200  # same day
    # a new period cannot start before the last one ended
    r = await join(client, dinas, kop, umkm, joined_on="2024-02-01")
    assert r.status_code == 422 and problem_fields(r) == ["body.joined_on"]
    r = await join(client, dinas, kop, umkm)  # today
    assert r.status_code == 201 and r.json()["joined_on"] >= "2024-03-01"


async def test_inactive_merged_or_unknown_umkm_cannot_join(client, dinas, runtime):
    kop = (await create_koperasi(client, dinas))["id"]
    member = await create_umkm(client, dinas)
    assert (await join(client, dinas, kop, member)).status_code == 201

    closed = await create_umkm(client, dinas)
    r = await client.post(
        f"/v1/umkm/{closed}/deactivate", json={"reason": "Usaha tutup"}, headers=dinas
    )
    assert r.status_code == 200, r.text
    r = await join(client, dinas, kop, closed)
    assert r.status_code == 409 and r.json()["umkm_status"] == "inactive"

    merged = await create_umkm(client, dinas)
    async with runtime.db.transaction() as s:  # the dedup merge is another module's; set the state
        await s.execute(update(Umkm).where(Umkm.id == uuid.UUID(merged)).values(status="merged"))
    r = await join(client, dinas, kop, merged)
    assert r.status_code == 409 and r.json()["umkm_status"] == "merged"

    r = await join(client, dinas, kop, str(uuid.uuid4()))
    assert r.status_code == 422 and problem_fields(r) == ["body.umkm_id"]
    assert (await join(client, dinas, str(uuid.uuid4()), member)).status_code == 404

    # a member that closes down leaves with its deactivation; leaving again is refused
    r = await client.post(
        f"/v1/umkm/{member}/deactivate", json={"reason": "Usaha tutup"}, headers=dinas
    )
    assert r.status_code == 200
    assert (await leave(client, dinas, kop, member, reason="Usaha tutup")).status_code == 409


async def test_dissolution_ends_memberships_and_is_final(client, dinas, ministry, runtime):
    kop = (await create_koperasi(client, dinas))["id"]
    a, b, c = [await create_umkm(client, dinas) for _ in range(3)]
    for u in (a, b):
        assert (await join(client, dinas, kop, u, joined_on="2023-05-01")).status_code == 201
    assert (await join(client, dinas, kop, c, joined_on="2024-01-10")).status_code == 201
    assert (await leave(client, dinas, kop, c, left_on="2024-02-01")).status_code == 200
    url = f"/v1/koperasi/{kop}"
    # a dissolution date before a current member joined is refused
    r = await client.patch(
        url,
        json={"status": "dissolved", "dissolved_on": "2023-01-01"},
        headers=dinas | {"If-Match": '"1"'},
    )
    assert r.status_code == 422 and problem_fields(r) == ["body.dissolved_on"]
    r = await client.patch(
        url, json={"dissolved_on": "2025-01-01"}, headers=dinas | {"If-Match": '"1"'}
    )
    assert r.status_code == 422
    r = await client.patch(
        url,
        json={"status": "dissolved", "dissolved_on": "2025-12-31"},
        headers=dinas | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["dissolved_on"]) == ("dissolved", "2025-12-31")

    r = await client.get(
        f"/v1/koperasi/{kop}/members", params={"include_history": "true"}, headers=dinas
    )
    ends = {m["umkm_id"]: (m["left_on"], m["left_reason"]) for m in r.json()["items"]}
    assert ends[a] == ends[b] == ("2025-12-31", "koperasi dissolved")
    assert ends[c] == ("2024-02-01", "Mengundurkan diri")
    assert (await client.get(f"/v1/koperasi/{kop}/members", headers=dinas)).json()["items"] == []
    for u in (a, b):
        t, _, data = (await outbox_events(runtime, u))[-1]
        assert (
            t == T_ENDED
            and data["cause"] == "koperasi_dissolved"
            and data["left_on"] == "2025-12-31"
        )
    assert [t for t, _, _ in await outbox_events(runtime, kop)] == [T_REGISTERED, T_UPDATED]

    # dissolved is final: no new members, no more changes, hidden from the default list
    d = await create_umkm(client, dinas)
    r = await join(client, dinas, kop, d)
    assert r.status_code == 409 and "dissolved" in r.json()["detail"]
    r = await client.patch(url, json={"name": "Koperasi Baru"}, headers=dinas | {"If-Match": '"2"'})
    assert r.status_code == 409
    listed = await client.get("/v1/koperasi", params={"limit": 500}, headers=ministry)
    assert kop not in [i["id"] for i in listed.json()["items"]]
    listed = await client.get(
        "/v1/koperasi", params={"limit": 500, "status": "dissolved"}, headers=ministry
    )
    assert kop in [i["id"] for i in listed.json()["items"]]


async def test_concurrent_joins_of_the_same_pair_one_wins(client, dinas):
    kop = (await create_koperasi(client, dinas))["id"]
    umkm = await create_umkm(client, dinas)
    results = await asyncio.gather(*(join(client, dinas, kop, umkm) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]


async def test_dinas_membership_scope_follows_the_umkm(client, app, dinas, ministry):
    jakarta = mint(app, "dinas", wilayah="31.71")
    bandung_kop = (await create_koperasi(client, dinas))["id"]
    bandung_umkm = await create_umkm(client, dinas)
    jakarta_umkm = await create_umkm(
        client, jakarta, village_code=JAKARTA_VILLAGE, owner_nik=valid_nik("317101")
    )
    # a Dinas cannot enrol (or remove) an UMKM of another region
    assert (await join(client, dinas, bandung_kop, jakarta_umkm)).status_code == 403
    # the Jakarta Dinas may enrol its UMKM in the Bandung koperasi
    assert (await join(client, jakarta, bandung_kop, jakarta_umkm)).status_code == 201
    assert (await join(client, dinas, bandung_kop, bandung_umkm)).status_code == 201
    assert (await leave(client, dinas, bandung_kop, jakarta_umkm)).status_code == 403

    # the Bandung Dinas lists only the members in its wilayah; the ministry sees all
    r = await client.get(f"/v1/koperasi/{bandung_kop}/members", headers=dinas)
    assert [m["umkm_id"] for m in r.json()["items"]] == [bandung_umkm]
    r = await client.get(f"/v1/koperasi/{bandung_kop}/members", headers=ministry)
    assert sorted(m["umkm_id"] for m in r.json()["items"]) == sorted([bandung_umkm, jakarta_umkm])
    # and cannot read another region's UMKM memberships
    assert (await client.get(f"/v1/umkm/{jakarta_umkm}/koperasi", headers=dinas)).status_code == 403
    r = await client.get(f"/v1/umkm/{jakarta_umkm}/koperasi", headers=jakarta)
    assert r.status_code == 200 and r.json()[0]["koperasi"]["id"] == bandung_kop
    assert (
        await client.get(f"/v1/umkm/{uuid.uuid4()}/koperasi", headers=ministry)
    ).status_code == 404


async def test_members_pagination(client, dinas):
    kop = (await create_koperasi(client, dinas))["id"]
    ids = [await create_umkm(client, dinas) for _ in range(3)]
    for u in ids:
        assert (await join(client, dinas, kop, u)).status_code == 201
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get(f"/v1/koperasi/{kop}/members", params=params, headers=dinas)
        ).json()
        seen += [m["umkm_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


# --- the koperasi actor ---------------------------------------------------------------------


async def test_koperasi_reads_its_own_members_and_nothing_else(
    client, app: FastAPI, dinas, ministry
):
    own = await create_koperasi(client, dinas)
    other = await create_koperasi(client, dinas)
    member = await create_umkm(client, dinas)
    former = await create_umkm(client, dinas)
    stranger = await create_umkm(client, dinas)
    assert (await join(client, dinas, own["id"], member)).status_code == 201
    assert (await join(client, dinas, own["id"], former)).status_code == 201
    assert (await leave(client, dinas, own["id"], former)).status_code == 200
    assert (await join(client, dinas, other["id"], stranger)).status_code == 201

    kop = mint(app, "koperasi", actor_id=own["id"])
    r = await client.get(f"/v1/koperasi/{own['id']}", headers=kop)
    assert r.status_code == 200 and r.json()["id"] == own["id"]
    r = await client.get(f"/v1/koperasi/{own['id']}/members", headers=kop)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [m["umkm_id"] for m in items] == [member]
    record = items[0]["umkm"]
    assert record["id"] == member and record["business_name"] == "Keripik Tempe Bu Sri"
    assert "*" in record["owner"]["nik_masked"] and "owner_nik" not in record
    r = await client.get(
        f"/v1/koperasi/{own['id']}/members", params={"include_history": True}, headers=kop
    )
    assert sorted(m["umkm_id"] for m in r.json()["items"]) == sorted([member, former])

    # another koperasi (existing or not) is refused alike: 403 reveals nothing about the id
    for kid in (other["id"], str(uuid.uuid4())):
        assert (await client.get(f"/v1/koperasi/{kid}", headers=kop)).status_code == 403
        r = await client.get(f"/v1/koperasi/{kid}/members", headers=kop)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    # the registry itself: search, records, memberships of an UMKM
    assert (await client.get("/v1/koperasi", headers=kop)).status_code == 403
    assert (await client.get("/v1/umkm", headers=kop)).status_code == 403
    assert (await client.get(f"/v1/umkm/{member}", headers=kop)).status_code == 403
    assert (await client.get(f"/v1/umkm/{member}/koperasi", headers=kop)).status_code == 403
    # and no writes, not even on itself
    r = await client.post("/v1/koperasi", json=new_koperasi(), headers=kop | idem())
    assert r.status_code == 403
    r = await client.patch(
        f"/v1/koperasi/{own['id']}", json={"address": "x"}, headers=kop | {"If-Match": '"1"'}
    )
    assert r.status_code == 403
    assert (await join(client, kop, own["id"], stranger)).status_code == 403
    assert (await leave(client, kop, own["id"], member)).status_code == 403

    # a koperasi client whose actor_id is not a koperasi id reads nothing; no token is 401
    odd = mint(app, "koperasi", actor_id="kop-a")
    assert (await client.get(f"/v1/koperasi/{own['id']}", headers=odd)).status_code == 403
    assert (await client.get(f"/v1/koperasi/{own['id']}")).status_code == 401
    # banks and anchors are refused too
    for kind in ("bank", "anchor"):
        headers = mint(app, kind, actor_id=own["id"])
        assert (await client.get(f"/v1/koperasi/{own['id']}", headers=headers)).status_code == 403
    # a read-only ministry token reads; a read-only Dinas token cannot write
    assert (
        await client.get(f"/v1/koperasi/{own['id']}/members", headers=ministry)
    ).status_code == 200
    reader = mint(app, "dinas", wilayah="32.73", scopes=frozenset({"registry:read"}))
    assert (await join(client, reader, own["id"], stranger)).status_code == 403


async def test_bandung_village_is_a_valid_seat(client, dinas):
    kop = await create_koperasi(client, dinas, wilayah_code=BANDUNG_VILLAGE.replace(".", ""))
    assert kop["wilayah"]["code"] == BANDUNG_VILLAGE


async def test_deactivating_an_umkm_ends_its_memberships(client, app, dinas, ministry):
    from registry_support import idem, new_umkm

    umkm = (await client.post("/v1/umkm", json=new_umkm(), headers=dinas | idem())).json()
    kop = await client.post("/v1/koperasi", json=new_koperasi(), headers=dinas | idem())
    assert kop.status_code == 201, kop.text
    kop_id = kop.json()["id"]
    joined = await client.post(
        f"/v1/koperasi/{kop_id}/members", json={"umkm_id": umkm["id"]}, headers=dinas
    )
    assert joined.status_code == 201, joined.text
    r = await client.post(
        f"/v1/umkm/{umkm['id']}/deactivate", json={"reason": "Tutup"}, headers=dinas
    )
    assert r.status_code == 200
    members = (await client.get(f"/v1/umkm/{umkm['id']}/koperasi", headers=dinas)).json()
    items = members["items"] if isinstance(members, dict) else members
    assert items and all(m["left_on"] is not None for m in items)
