"""The registry's HTTP API against a real PostgreSQL: records, validation, access, ETags,
idempotency, search, counts, scale history, NIK privacy."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI
from registry_support import BANDUNG_VILLAGE, JAKARTA_VILLAGE, idem, mint, new_umkm, valid_nik
from sqlalchemy import func, select

from umkm_registry.models import PiiAccessLog, Umkm, messaging_tables
from umkm_shared.runtime import ServiceRuntime

PROBLEM = "application/problem+json"


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], **over: object
) -> httpx.Response:
    return await client.post("/v1/umkm", json=new_umkm(**over), headers=headers | idem())


async def count_rows(runtime: ServiceRuntime, *where: object) -> int:
    async with runtime.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Umkm).where(*where)) or 0)


async def test_register_returns_the_record_with_derived_fields(client, dinas):
    r = await register(client, dinas)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"].endswith(body["id"])
    assert body["business_name"] == "Keripik Tempe Bu Sri"  # typed in capitals, stored re-cased
    assert body["owner"]["nik_masked"].startswith("3273") and "*" in body["owner"]["nik_masked"]
    assert "owner_nik" not in body
    assert body["scale"] == "mikro"
    assert body["wilayah"]["regency"] == {"code": "32.73", "name": "Kota Bandung"}
    assert body["wilayah"]["district"]["code"] == "32.73.07"
    # no coordinates given: the kecamatan's centre, flagged approximate
    assert body["location"]["approximate"] is True
    assert abs(body["location"]["latitude"] - -6.89) < 0.01


async def test_register_keeps_given_coordinates(client, dinas):
    r = await register(client, dinas, latitude=-6.8851, longitude=107.5912)
    assert r.status_code == 201, r.text
    assert r.json()["location"] == {
        "latitude": -6.8851,
        "longitude": 107.5912,
        "approximate": False,
    }


async def test_register_writes_event_to_outbox_in_same_transaction(client, dinas, runtime):
    r = await register(client, dinas)
    umkm_id = r.json()["id"]
    outbox = messaging_tables.outbox
    async with runtime.db.session() as s:
        rows = (
            await s.execute(
                select(outbox.c.type, outbox.c.topic, outbox.c.key).where(
                    outbox.c.subject == umkm_id
                )
            )
        ).all()
    assert [(t, topic, key) for t, topic, key in rows] == [
        ("id.umkm.registry.umkm.registered.v1", "umkm.registry.v1", umkm_id)
    ]


async def test_invalid_fields_answer_422_naming_field_and_reason(client, dinas, runtime):
    before = await count_rows(runtime)
    cases = [
        ({"owner_nik": "3273071713850001"}, "body.owner_nik", "month 13"),
        ({"owner_nik": "3273073102850001"}, "body.owner_nik", "31"),  # 31 February
        ({"owner_nik": "12345"}, "body.owner_nik", "16 digits"),
        ({"village_code": "32.73.07.9999"}, "body.village_code", "does not exist"),
        ({"village_code": "32.73.07"}, "body.village_code", "level"),
        ({"kbli": {"code": "99999"}}, "body.kbli", "does not exist"),
        ({"nib": "12345"}, "body.nib", "13"),
        ({"npwp": "12.345"}, "body.npwp", "digits"),
        ({"capital_idr": -5}, "body.capital_idr", "greater than or equal"),
        (
            {"capital_idr": None, "annual_sales_idr": None},
            "body",
            "capital_idr or annual_sales_idr",
        ),
        ({"latitude": -6.9}, "body", "latitude and longitude"),
        ({"latitude": 40.0, "longitude": 107.0}, "body.latitude", "less than or equal"),
        ({"founded_on": "2999-01-01"}, "body.founded_on", "future"),
        ({"surprise": 1}, "body.surprise", "Extra inputs"),
        ({"business_name": ""}, "body.business_name", "at least 1"),
        ({"capital_idr": 20_000_000_000}, "body.capital_idr", "besar"),
    ]
    for over, field, reason in cases:
        r = await register(client, dinas, **over)
        assert r.status_code == 422, (over, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        problem = r.json()
        fields = [e["field"] for e in problem.get("errors", [])] or [problem.get("field")]
        assert any(f.startswith(field) for f in fields if f), (over, problem)
        assert reason.lower() in r.text.lower(), (over, problem)
    assert await count_rows(runtime) == before  # nothing invalid was stored


async def test_malformed_json_is_a_problem_not_a_500(client, dinas):
    r = await client.post(
        "/v1/umkm",
        content=b'{"business_name": ',
        headers=dinas | idem() | {"content-type": "application/json"},
    )
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_dinas_cannot_write_outside_its_wilayah(client, dinas, runtime):
    before = await count_rows(runtime, Umkm.village_code == JAKARTA_VILLAGE)
    r = await register(client, dinas, village_code=JAKARTA_VILLAGE, owner_nik=valid_nik("317101"))
    assert r.status_code == 403
    assert "outside your wilayah 32.73" in r.json()["detail"]
    assert await count_rows(runtime, Umkm.village_code == JAKARTA_VILLAGE) == before


async def test_dinas_cannot_read_or_change_records_of_another_wilayah(client, app, dinas):
    jakarta = mint(app, "dinas", wilayah="31")
    created = (await register(client, jakarta, village_code=JAKARTA_VILLAGE)).json()
    r = await client.get(f"/v1/umkm/{created['id']}", headers=dinas)
    assert r.status_code == 403
    r = await client.patch(
        f"/v1/umkm/{created['id']}", json={"workforce": 9}, headers=dinas | {"If-Match": '"1"'}
    )
    assert r.status_code == 403
    # and a Dinas cannot move its own record out of its wilayah
    mine = (await register(client, dinas)).json()
    r = await client.patch(
        f"/v1/umkm/{mine['id']}",
        json={"village_code": JAKARTA_VILLAGE},
        headers=dinas | {"If-Match": '"1"'},
    )
    assert r.status_code == 403
    # its searches never show other regions
    r = await client.get("/v1/umkm", params={"limit": 500}, headers=dinas)
    assert all(i["wilayah"]["regency"]["code"] == "32.73" for i in r.json()["items"])
    r = await client.get("/v1/umkm", params={"wilayah": "31"}, headers=dinas)
    assert r.status_code == 403


async def test_only_ministry_and_dinas_may_use_the_registry(client, app, dinas):
    created = (await register(client, dinas)).json()
    for kind, actor_id in (("bank", "bank-a"), ("anchor", "anchor-a"), ("koperasi", "kop-a")):
        headers = mint(app, kind, actor_id=actor_id)
        assert (await client.get(f"/v1/umkm/{created['id']}", headers=headers)).status_code == 403
        assert (await register(client, headers)).status_code == 403
    assert (await client.get(f"/v1/umkm/{created['id']}")).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    r = await client.get(f"/v1/umkm/{created['id']}", headers=bad)
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    # a read-only token cannot write
    reader = mint(app, "dinas", wilayah="32.73", scopes=frozenset({"registry:read"}))
    assert (await register(client, reader)).status_code == 403
    ministry = mint(app, "ministry", scopes=frozenset({"registry:read"}))
    assert (await client.get(f"/v1/umkm/{created['id']}", headers=ministry)).status_code == 200


async def test_patch_needs_current_etag(client, dinas):
    created = (await register(client, dinas)).json()
    url = f"/v1/umkm/{created['id']}"
    r = await client.patch(url, json={"workforce": 4}, headers=dinas)
    assert r.status_code == 428
    r = await client.patch(url, json={"workforce": 4}, headers=dinas | {"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"' and r.json()["workforce"] == 4
    r = await client.patch(url, json={"workforce": 5}, headers=dinas | {"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.json()["current_version"] == 2
    assert (await client.get(url, headers=dinas)).json()["workforce"] == 4


async def test_concurrent_patches_with_same_etag_one_wins(client, dinas):
    created = (await register(client, dinas)).json()
    url = f"/v1/umkm/{created['id']}"
    results = await asyncio.gather(
        *[
            client.patch(url, json={"workforce": n}, headers=dinas | {"If-Match": '"1"'})
            for n in (10, 11, 12)
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412]
    assert (await client.get(url, headers=dinas)).json()["version"] == 2


async def test_scale_change_is_recorded_as_history_and_event(client, dinas, runtime):
    created = (await register(client, dinas)).json()
    url = f"/v1/umkm/{created['id']}"
    r = await client.patch(
        url, json={"capital_idr": 2_500_000_000}, headers=dinas | {"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["scale"] == "kecil"
    r = await client.patch(
        url, json={"capital_idr": 7_000_000_000}, headers=dinas | {"If-Match": '"2"'}
    )
    assert r.json()["scale"] == "menengah"
    history = (await client.get(f"{url}/scale-history", headers=dinas)).json()
    assert [(h["previous_scale"], h["new_scale"]) for h in history] == [
        (None, "mikro"),
        ("mikro", "kecil"),
        ("kecil", "menengah"),
    ]
    outbox = messaging_tables.outbox
    async with runtime.db.session() as s:
        types = list(
            (
                await s.execute(
                    select(outbox.c.type)
                    .where(outbox.c.subject == created["id"])
                    .order_by(outbox.c.id)
                )
            ).scalars()
        )
    assert types == [
        "id.umkm.registry.umkm.registered.v1",
        "id.umkm.registry.umkm.updated.v1",
        "id.umkm.registry.umkm.scale_changed.v1",
        "id.umkm.registry.umkm.updated.v1",
        "id.umkm.registry.umkm.scale_changed.v1",
    ]


async def test_same_nib_cannot_register_twice(client, dinas):
    nib = f"91{uuid.uuid4().int % 10**11:011d}"
    first = await register(client, dinas, nib=nib)
    assert first.status_code == 201
    second = await register(client, dinas, nib=nib, business_name="Toko Lain")
    assert second.status_code == 409
    assert second.json()["existing_id"] == first.json()["id"]


async def test_idempotency_key_replays_and_refuses_other_bodies(client, dinas, runtime):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = new_umkm()
    first = await client.post("/v1/umkm", json=body, headers=dinas | key)
    again = await client.post("/v1/umkm", json=body, headers=dinas | key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = await client.post("/v1/umkm", json=new_umkm(workforce=9), headers=dinas | key)
    assert other.status_code == 422
    missing = await client.post("/v1/umkm", json=body, headers=dinas)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.text
    assert (
        await count_rows(
            runtime, Umkm.owner_nik_hash == (await _hash_of(runtime, first.json()["id"]))
        )
        == 1
    )


async def _hash_of(runtime: ServiceRuntime, umkm_id: str) -> str:
    async with runtime.db.session() as s:
        return str(await s.scalar(select(Umkm.owner_nik_hash).where(Umkm.id == uuid.UUID(umkm_id))))


async def test_search_filters_and_cursor_pagination(client, app, dinas):
    village = "32.73.07.1001"  # a desa only this test uses
    kbli_codes = ["47111", "56101", "10792", "47111", "56102"]
    ids = []
    for i, code in enumerate(kbli_codes):
        nib = f"93{uuid.uuid4().int % 10**11:011d}" if i % 2 == 0 else None
        r = await register(
            client,
            dinas,
            village_code=village,
            kbli={"code": code},
            nib=nib,
            business_name=f"Warung Nomor {i} Lestari",
            capital_idr=10_000_000 if i < 4 else 3_000_000_000,
        )
        ids.append(r.json()["id"])

    async def fetch(**params: object) -> list[str]:
        r = await client.get("/v1/umkm", params={"wilayah": village, **params}, headers=dinas)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await fetch() == ids
    assert await fetch(kbli="4711") == [ids[0], ids[3]]
    assert await fetch(kbli="56") == [ids[1], ids[4]]
    assert await fetch(scale="kecil") == [ids[4]]
    assert await fetch(has_nib="true") == [ids[0], ids[2], ids[4]]
    assert await fetch(has_nib="false") == [ids[1], ids[3]]
    assert await fetch(q="nomor 3") == [ids[3]]
    assert await fetch(wilayah="3273071001") == ids  # without dots

    pages, cursor = [], None
    while True:
        params = {"wilayah": village, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/umkm", params=params, headers=dinas)).json()
        pages.append([i["id"] for i in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]

    for params in (
        {"cursor": "garbage"},
        {"wilayah": "99"},
        {"kbli": "ab"},
        {"limit": 0},
        {"scale": "huge"},
    ):
        r = await client.get("/v1/umkm", params=params, headers=dinas)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)


async def test_counts_by_scale_sector_and_region(client, dinas, ministry):
    village = "32.73.07.1003"
    for code, capital in (("47111", 10_000_000), ("47112", 2_000_000_000), ("56101", 10_000_000)):
        assert (
            await register(
                client, dinas, village_code=village, kbli={"code": code}, capital_idr=capital
            )
        ).status_code == 201
    r = await client.get(
        "/v1/umkm-stats", params={"wilayah": village, "group_by": "scale"}, headers=dinas
    )
    assert r.status_code == 200, r.text
    assert {row["key"]: row["count"] for row in r.json()["rows"]} == {"kecil": 1, "mikro": 2}
    r = await client.get(
        "/v1/umkm-stats", params={"wilayah": village, "group_by": "kbli_section"}, headers=ministry
    )
    assert {row["key"]: row["count"] for row in r.json()["rows"]} == {"G": 2, "I": 1}
    r = await client.get(
        "/v1/umkm-stats", params={"wilayah": village, "group_by": "district"}, headers=ministry
    )
    assert r.json()["rows"] == [{"key": "32.73.07", "name": "Sukajadi", "count": 3}]


async def test_deactivate_then_no_more_changes(client, dinas):
    created = (await register(client, dinas)).json()
    url = f"/v1/umkm/{created['id']}"
    r = await client.post(f"{url}/deactivate", json={"reason": "Usaha tutup"}, headers=dinas)
    assert r.status_code == 200 and r.json()["status"] == "inactive"
    assert (
        await client.post(f"{url}/deactivate", json={"reason": "again"}, headers=dinas)
    ).status_code == 409
    r = await client.patch(url, json={"workforce": 1}, headers=dinas | {"If-Match": '"2"'})
    assert r.status_code == 409
    listed = (
        await client.get(
            "/v1/umkm",
            params={"wilayah": BANDUNG_VILLAGE, "limit": 500, "status": "inactive"},
            headers=dinas,
        )
    ).json()
    assert created["id"] in [i["id"] for i in listed["items"]]


async def test_full_nik_only_with_pii_scope_and_audited(client, app, dinas, runtime):
    nik = valid_nik(day=12)
    created = (await register(client, dinas, owner_nik=nik)).json()
    url = f"/v1/umkm/{created['id']}/owner-nik"
    assert (
        await client.get(url, params={"purpose": "verifikasi"}, headers=dinas)
    ).status_code == 403
    pii = mint(app, "dinas", wilayah="32.73", scopes=frozenset({"registry:read", "registry:pii"}))
    r = await client.get(url, params={"purpose": "verifikasi KUR"}, headers=pii)
    assert r.status_code == 200 and r.json()["owner_nik"] == nik
    async with runtime.db.session() as s:
        logged = await s.scalar(
            select(func.count())
            .select_from(PiiAccessLog)
            .where(PiiAccessLog.umkm_id == uuid.UUID(created["id"]))
        )
    assert logged == 1


async def test_token_endpoint_issues_tokens_for_stored_clients(client, app: FastAPI, runtime):
    from umkm_shared.auth import ClientStore

    async with runtime.db.transaction() as s:
        client_id, secret = await ClientStore(s).create_client(
            name="Dinas KUKM Kota Bandung",
            kind="dinas",
            wilayah="32.73",
            scopes=["registry:read", "registry:write"],
        )
    r = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    created = await register(client, {"Authorization": f"Bearer {token}"})
    assert created.status_code == 201
    wrong = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


async def feed_end(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """The feed's cursor after everything committed so far."""
    since = None
    while True:
        params = {"limit": 1000} | ({"since": since} if since else {})
        page = (await client.get("/v1/changes", params=params, headers=headers)).json()
        since = page["next_since"]
        if not page["items"]:
            return since


async def test_change_feed_is_ordered_resumable_and_region_scoped(client, app, dinas):
    jabar = mint(app, "dinas", wilayah="32")
    since = await feed_end(client, dinas)
    a = (await register(client, dinas)).json()
    b = (await register(client, dinas)).json()
    await client.patch(
        f"/v1/umkm/{a['id']}", json={"workforce": 7}, headers=dinas | {"If-Match": '"1"'}
    )
    await client.post(f"/v1/umkm/{b['id']}/deactivate", json={"reason": "Tutup"}, headers=dinas)
    jakarta = mint(app, "dinas", wilayah="31")
    await register(client, jakarta, village_code=JAKARTA_VILLAGE)

    first = (
        await client.get("/v1/changes", params={"since": since, "limit": 2}, headers=dinas)
    ).json()
    rest = (
        await client.get("/v1/changes", params={"since": first["next_since"]}, headers=dinas)
    ).json()
    seen = [(i["umkm_id"], i["change"]) for i in first["items"] + rest["items"]]
    assert seen == [
        (a["id"], "registered"),
        (b["id"], "registered"),
        (a["id"], "updated"),
        (b["id"], "deactivated"),
    ]
    assert rest["items"][-1]["umkm"]["status"] == "inactive"
    # nothing new: the cursor stays put
    again = (
        await client.get("/v1/changes", params={"since": rest["next_since"]}, headers=dinas)
    ).json()
    assert again["items"] == [] and again["next_since"] == rest["next_since"]
    # the province's Dinas sees them too; Kota Bandung's Dinas may not read Jakarta's or the province's feed
    assert (
        await client.get("/v1/changes", params={"since": since}, headers=jabar)
    ).status_code == 200
    assert (
        await client.get("/v1/changes", params={"wilayah": "31"}, headers=dinas)
    ).status_code == 403
    assert (
        await client.get("/v1/changes", params={"wilayah": "32"}, headers=dinas)
    ).status_code == 403
    assert (
        await client.get("/v1/changes", params={"since": "bogus"}, headers=dinas)
    ).status_code == 422


async def test_change_feed_never_skips_a_slow_transaction(client, dinas, runtime):
    """A transaction that took its seq early but commits late must still be served."""
    from umkm_registry.models import UmkmChange

    since = await feed_end(client, dinas)
    a = (await register(client, dinas)).json()
    async with runtime.db.transaction() as slow:
        slow.add(
            UmkmChange(
                umkm_id=uuid.UUID(a["id"]),
                province_code="32",
                regency_code="32.73",
                change="updated",
                version=1,
            )
        )
        await slow.flush()  # seq taken now, commit later
        b = (await register(client, dinas)).json()
        page = (await client.get("/v1/changes", params={"since": since}, headers=dinas)).json()
        # b committed after the slow transaction began: held back until it ends
        assert [i["umkm_id"] for i in page["items"]] == [a["id"]]
        since = page["next_since"]
    page = (await client.get("/v1/changes", params={"since": since}, headers=dinas)).json()
    assert sorted((i["umkm_id"], i["change"]) for i in page["items"]) == sorted(
        [(a["id"], "updated"), (b["id"], "registered")]
    )


async def test_control_characters_are_refused_not_a_500(client, app, dinas, runtime):
    before = await count_rows(runtime)
    for over, field in (
        ({"business_name": "Warung\u0000Bu Sri"}, "body.business_name"),
        ({"address": "Jl. Merdeka\u0007 12"}, "body.address"),
        ({"products": ["Kopi", "Teh\u0000"]}, "body.products"),
    ):
        r = await register(client, dinas, **over)
        assert r.status_code == 422, (over, r.text)
        assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
        assert "control character" in r.text
    assert await count_rows(runtime) == before
    r = await client.get("/v1/umkm", params={"q": "ab\u0000cd"}, headers=dinas)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.q"
    # line breaks and tabs in an address stay allowed
    ok = await register(client, dinas, address="Jl. Merdeka 12\nRT 01/RW 02")
    assert ok.status_code == 201, ok.text


async def test_if_match_star_accepts_any_current_version(client, dinas):
    created = (await register(client, dinas)).json()
    url = f"/v1/umkm/{created['id']}"
    r = await client.patch(url, json={"workforce": 6}, headers=dinas | {"If-Match": "*"})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = await client.patch(url, json={"workforce": 7}, headers=dinas | {"If-Match": "abc"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "header.If-Match"
