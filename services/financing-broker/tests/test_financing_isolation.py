"""Who sees what: bank A never sees bank B's applications, offers, loans, programmes or
limits; an anchor sees only its programmes and its suppliers' applications; a koperasi only the
applications it opened. Every refusal of an existing resource looks exactly like a guessed id:
404 (or 409 for a step on something the caller can see but does not own)."""

from __future__ import annotations

from financing_support import (
    World,
    idem,
    make_world,
    mint,
    new_order,
    offer_body,
    onboard_bank,
    publish,
)

from umkm_shared.ids import new_id


async def _disbursed(world: World) -> tuple[str, str]:
    """An application of the world's anchor, routed to A and B, disbursed by A."""
    order = new_order(world.anchor_id, world.umkm_ids[0], amount=100_000_000)
    await publish(world.bus, order.issued(), order.accepted(), order.received(), order.invoiced())
    r = await world.client.post(
        "/v1/applications",
        json={"product": "invoice_financing", "po_id": str(order.po_id), "tenor_days": 60},
        headers=world.anchor | idem(),
    )
    app_id = r.json()["id"]
    r = await world.bank_a.post(
        f"/v1/bank/applications/{app_id}/offers", offer_body(amount_idr=80_000_000)
    )
    assert r.status_code == 201, r.text
    offer = r.json()["id"]
    r = await world.client.post(
        f"/v1/applications/{app_id}/offers/{offer}/accept", headers=world.anchor | idem()
    )
    assert r.status_code == 200, r.text
    await world.bank_a.post(f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"})
    await world.bank_a.post(f"/v1/bank/applications/{app_id}/agreement",
                            {"agreement_reference": "A", "signed_on": "2026-11-01"})  # fmt: skip
    r = await world.bank_a.post(
        f"/v1/bank/applications/{app_id}/disbursement",
        {"amount_idr": 80_000_000, "disbursed_on": "2026-11-01", "reference": "D"},
    )
    assert r.status_code == 201, r.text
    return app_id, r.json()["id"]


async def test_bank_isolation(world: World) -> None:
    app_id, loan_id = await _disbursed(world)
    a, b = world.bank_a, world.bank_b
    outsider = await onboard_bank(world.client, world.app)  # no programme on this anchor
    ghost = str(new_id())

    # A bank with no route sees no application, whatever the id.
    for path in (f"/v1/bank/applications/{app_id}", f"/v1/bank/applications/{ghost}"):
        r = await outsider.get(path)
        assert r.status_code == 404, r.text
    r = await outsider.post(f"/v1/bank/applications/{app_id}/offers", offer_body())
    assert r.status_code == 404
    assert (await outsider.get("/v1/bank/applications")).json()["items"] == []

    # Bank B (routed, but not chosen) sees the application, never A's offer or loan.
    assert (await b.get(f"/v1/bank/applications/{app_id}")).status_code == 200
    assert (await b.get(f"/v1/bank/applications/{app_id}/offers")).json() == []
    for path in (f"/v1/bank/loans/{loan_id}", f"/v1/bank/loans/{ghost}"):
        assert (await b.get(path)).status_code == 404
    r = await b.post(f"/v1/bank/loans/{loan_id}/repayments",
                     {"amount_idr": 1, "paid_on": "2026-11-02", "reference": "x"})  # fmt: skip
    assert r.status_code == 404
    assert (
        await b.post(f"/v1/bank/loans/{loan_id}/close", {"reason": "written_off"})
    ).status_code == 404
    assert (await b.get("/v1/bank/loans")).json()["items"] == []
    r = await b.post(f"/v1/bank/applications/{app_id}/disbursement",
                     {"amount_idr": 1, "disbursed_on": "2026-11-02", "reference": "x"})  # fmt: skip
    assert r.status_code == 409  # visible, but not B's to disburse

    # Programmes and limits: only one's own.
    prog_a = world.programmes["a"]
    assert (await b.get(f"/v1/bank/programmes/{prog_a}")).status_code == 404
    r = await b.put(f"/v1/bank/programmes/{prog_a}/suppliers/{world.umkm_ids[0]}", {"limit_idr": 1})
    assert r.status_code == 404
    own = {p["id"] for p in (await b.get("/v1/bank/programmes")).json()}
    assert prog_a not in own
    assert {x["programme_id"] for x in (await b.get("/v1/bank/limits")).json()} & {prog_a} == set()
    r = await b.get("/v1/bank/reports/portfolio?group_by=anchor")
    assert r.json()["total"]["volume_idr"] == 0

    # A sees its own.
    assert (await a.get(f"/v1/bank/loans/{loan_id}")).status_code == 200
    assert (await a.get("/v1/bank/reports/portfolio")).json()["total"]["volume_idr"] == 80_000_000


async def test_anchor_and_koperasi_isolation(world: World, app, client, bus) -> None:
    app_id, _ = await _disbursed(world)
    other = await make_world(app, client, bus)  # another anchor with its own banks
    ghost = str(new_id())
    for path in (f"/v1/applications/{app_id}", f"/v1/applications/{ghost}",
                 f"/v1/applications/{app_id}/offers", f"/v1/applications/{app_id}/history",
                 f"/v1/applications/{app_id}/loan"):  # fmt: skip
        r = await client.get(path, headers=other.anchor)
        assert r.status_code == 404, (path, r.text)
    for path in (f"/v1/applications/{app_id}/confirm", f"/v1/applications/{app_id}/withdraw"):
        r = await client.post(path, json={}, headers=other.anchor | idem())
        assert r.status_code == 404, (path, r.text)
    listed = (await client.get("/v1/applications", headers=other.anchor)).json()["items"]
    assert app_id not in [x["id"] for x in listed]
    mine = {
        p["id"] for p in (await client.get("/v1/anchor/programmes", headers=other.anchor)).json()
    }
    assert mine == set(other.programmes.values())
    r = await client.get("/v1/reports/portfolio?group_by=anchor", headers=other.anchor)
    assert [row["key"] for row in r.json()["rows"]] in ([], [str(other.anchor_id)])

    # An anchor cannot open an application in another anchor's name.
    r = await client.post(
        "/v1/applications",
        json={"product": "kur_khusus", "umkm_id": str(world.umkm_ids[0]),
              "anchor_id": str(world.anchor_id), "amount_requested_idr": 10_000_000,
              "tenor_days": 365},
        headers=other.anchor | idem(),
    )  # fmt: skip
    assert r.status_code == 422 and "body.anchor_id" in r.text

    # Koperasi: only what it opened.
    k1, k2 = (mint(app, "koperasi", actor_id=k) for k in ("KOP-A", "KOP-B"))
    r = await client.post(
        "/v1/applications",
        json={"product": "kur_mikro", "umkm_id": str(world.umkm_ids[1]),
              "anchor_id": str(world.anchor_id), "amount_requested_idr": 20_000_000,
              "tenor_days": 365, "submit": False},
        headers=k1 | idem(),
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["status"] == "draft", r.text
    draft = r.json()["id"]
    assert (await client.get(f"/v1/applications/{draft}", headers=k2)).status_code == 404
    assert (
        await client.post(f"/v1/applications/{draft}/submit", headers=k2 | idem())
    ).status_code == 404
    assert (await client.get(f"/v1/applications/{draft}", headers=k1)).status_code == 200
    # Banks cannot use the applicant's endpoints at all.
    bank_token = {"Authorization": f"Bearer {world.bank_a.token}"}
    assert (await client.get(f"/v1/applications/{draft}", headers=bank_token)).status_code == 403
