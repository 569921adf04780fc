"""More of the life of an application: withdrawal releases every reservation, a retried bank
call with the same Idempotency-Key (and a fresh SNAP signature) replays its first answer, an
anchor declines to confirm, and the per-cluster portfolio follows the clustering events."""

from __future__ import annotations

from datetime import UTC, datetime

from financing_support import (
    World,
    idem,
    mint,
    new_order,
    offer_body,
    publish,
)

from umkm_shared.events.clustering import ClusterMembersAssigned
from umkm_shared.ids import new_id


async def _routed(world: World, amount: int = 100_000_000) -> str:
    order = new_order(world.anchor_id, world.umkm_ids[0], amount=amount)
    await publish(world.bus, order.issued(), order.accepted(), order.received(), order.invoiced())
    r = await world.client.post(
        "/v1/applications",
        json={"product": "invoice_financing", "po_id": str(order.po_id), "tenor_days": 60},
        headers=world.anchor | idem(),
    )
    assert r.json()["status"] == "routed", r.text
    return str(r.json()["id"])


async def _reserved(world: World) -> int:
    total = 0
    for bank, name in ((world.bank_a, "a"), (world.bank_b, "b")):
        r = await bank.get(f"/v1/bank/programmes/{world.programmes[name]}")
        total += sum(x["reserved_idr"] for x in r.json()["limits"] if x["kind"] == "programme")
    return total


async def test_withdrawal_releases_every_reservation(world: World) -> None:
    app_id = await _routed(world)
    for bank in (world.bank_a, world.bank_b):
        r = await bank.post(
            f"/v1/bank/applications/{app_id}/offers", offer_body(amount_idr=70_000_000)
        )
        assert r.status_code == 201, r.text
    assert await _reserved(world) == 140_000_000
    r = await world.client.post(
        f"/v1/applications/{app_id}/withdraw", json={"reason": "no longer needed"},
        headers=world.anchor | idem(),
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    assert await _reserved(world) == 0
    offers = (
        await world.client.get(f"/v1/applications/{app_id}/offers", headers=world.anchor)
    ).json()
    assert {o["status"] for o in offers} == {"lapsed"}
    r = await world.bank_a.post(f"/v1/bank/applications/{app_id}/offers", offer_body())
    assert r.status_code == 409


async def test_retry_with_same_idempotency_key_replays(world: World) -> None:
    app_id = await _routed(world)
    key = {"Idempotency-Key": str(new_id())}
    path = f"/v1/bank/applications/{app_id}/offers"
    first = await world.bank_a.post(path, offer_body(amount_idr=50_000_000), extra=key)
    assert first.status_code == 201, first.text
    again = await world.bank_a.post(path, offer_body(amount_idr=50_000_000), extra=key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await world.bank_a.post(path, offer_body(amount_idr=40_000_000), extra=key)
    assert other.status_code == 422  # same key, another body
    assert await _reserved(world) == 50_000_000  # reserved once


async def test_anchor_declines_confirmation(world: World) -> None:
    order = new_order(world.anchor_id, world.umkm_ids[1], amount=30_000_000)
    await publish(world.bus, order.issued(), order.accepted())
    kop = mint(world.app, "koperasi", actor_id="KOP-D")
    r = await world.client.post(
        "/v1/applications", json={"product": "po_financing", "po_id": str(order.po_id)},
        headers=kop | idem(),
    )  # fmt: skip
    app_id = r.json()["id"]
    r = await world.client.post(f"/v1/applications/{app_id}/confirm", json={}, headers=kop | idem())
    assert r.status_code == 403  # only the anchor confirms
    r = await world.client.post(
        f"/v1/applications/{app_id}/decline-confirmation", json={"reason": "PO revised"},
        headers=world.anchor | idem(),
    )  # fmt: skip
    assert r.json()["status"] == "confirmation_declined", r.text
    r = await world.client.post(
        f"/v1/applications/{app_id}/confirm", json={}, headers=world.anchor | idem()
    )
    assert r.status_code == 409 and r.json()["allowed"] == []


async def test_portfolio_per_cluster(world: World) -> None:
    cluster = new_id()
    await publish(
        world.bus,
        ClusterMembersAssigned(
            cluster_id=cluster, sector_code="otomotif", umkm_ids=[world.umkm_ids[0]],
            reason="formation", assignment_seq=10, assigned_at=datetime.now(UTC),
        ),
        source="/clustering",
    )  # fmt: skip
    app_id = await _routed(world, 40_000_000)
    r = await world.bank_a.post(
        f"/v1/bank/applications/{app_id}/offers", offer_body(amount_idr=30_000_000)
    )
    offer = r.json()["id"]
    await world.client.post(
        f"/v1/applications/{app_id}/offers/{offer}/accept", headers=world.anchor | idem()
    )
    await world.bank_a.post(f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"})
    await world.bank_a.post(f"/v1/bank/applications/{app_id}/agreement",
                            {"agreement_reference": "C", "signed_on": "2026-11-01"})  # fmt: skip
    r = await world.bank_a.post(f"/v1/bank/applications/{app_id}/disbursement",
                                {"amount_idr": 30_000_000, "disbursed_on": "2026-11-01", "reference": "C"})  # fmt: skip
    assert r.status_code == 201, r.text
    ministry = mint(world.app, "ministry")
    r = await world.client.get("/v1/reports/portfolio?group_by=cluster", headers=ministry)
    row = next(x for x in r.json()["rows"] if x["key"] == str(cluster))
    assert row["volume_idr"] == 30_000_000 and row["outstanding_by_kol"]["1"] == 30_000_000
    r = await world.client.get(
        "/v1/reports/portfolio?group_by=cluster",
        headers=world.bank_a.headers("GET", "/v1/reports/portfolio?group_by=cluster"),
    )
    assert r.status_code == 403  # banks read their own report on /v1/bank/reports


async def test_ageing_worker_ages_and_purges_old_external_ids(app, runtime) -> None:
    from datetime import date, timedelta

    from sqlalchemy import text

    async with runtime.db.transaction() as s:
        await s.execute(
            text(
                "INSERT INTO snap_external_ids (partner_id, day, external_id, method, path) "
                "VALUES ('OLD-1', :d, 'x', 'GET', '/')"
            ),
            {"d": date.today() - timedelta(days=5)},
        )
    loans, _ = await app.state.ageing.run_once()
    assert loans >= 0
    async with runtime.db.session() as s:
        left = await s.scalar(
            text("SELECT count(*) FROM snap_external_ids WHERE partner_id = 'OLD-1'")
        )
    assert left == 0


async def test_malformed_bank_input_is_a_problem_never_a_500(world: World) -> None:
    app_id = await _routed(world)
    path = f"/v1/bank/applications/{app_id}/offers"
    cases = [
        (offer_body(valid_until="2030-01-01T00:00:00"), "body.valid_until"),  # no offset
        (offer_body(amount_idr=10**19), "body.amount_idr"),
        (offer_body(rate_pa="abc"), "body.rate_pa"),
        (offer_body(tenor_days=0), "body.tenor_days"),
        (offer_body(surprise=1), "body.surprise"),
    ]
    for body, field in cases:
        r = await world.bank_a.post(path, body)
        assert r.status_code == 422, (body, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], r.text
    r = await world.bank_a.request("POST", "/v1/bank/applications/not-a-uuid/offers", offer_body())
    assert r.status_code == 422
    raw = b'{"amount_idr": '
    h = world.bank_a.headers("POST", path, raw) | idem() | {"content-type": "application/json"}
    r = await world.client.post(path, content=raw, headers=h)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


async def test_dinas_and_bank_open_applications(world: World) -> None:
    body = {
        "product": "kur_khusus", "umkm_id": str(world.umkm_ids[1]),
        "anchor_id": str(world.anchor_id), "amount_requested_idr": 25_000_000, "tenor_days": 360,
    }  # fmt: skip
    bandung = mint(world.app, "dinas", wilayah="32.73")
    r = await world.client.post("/v1/applications", json=body, headers=bandung | idem())
    assert r.status_code == 201 and r.json()["status"] == "awaiting_confirmation", r.text
    app_id = r.json()["id"]
    assert r.json()["opened_by_kind"] == "dinas" and r.json()["opened_by_id"] == "32.73"
    jabar = mint(world.app, "dinas", wilayah="32")
    jakarta = mint(world.app, "dinas", wilayah="31.71")
    assert (await world.client.get(f"/v1/applications/{app_id}", headers=jabar)).status_code == 200
    assert (
        await world.client.get(f"/v1/applications/{app_id}", headers=jakarta)
    ).status_code == 404

    r = await world.bank_a.post("/v1/bank/applications", dict(body, umkm_id=str(world.umkm_ids[0])))
    assert r.status_code == 201, r.text
    bank_app = r.json()["id"]
    assert r.json()["opened_by_kind"] == "bank"
    assert (await world.bank_a.get(f"/v1/bank/applications/{bank_app}")).status_code == 200
    assert (await world.bank_b.get(f"/v1/bank/applications/{bank_app}")).status_code == 404
    r = await world.client.post(
        f"/v1/applications/{bank_app}/confirm", json={}, headers=world.anchor | idem()
    )
    assert r.json()["status"] == "routed", r.text
    assert (await world.bank_b.get(f"/v1/bank/applications/{bank_app}")).status_code == 200
