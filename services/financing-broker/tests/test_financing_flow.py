"""An application carried from a purchase order to closed-loop repayment, every amount
reconciled: supply-chain events pre-fill it, the anchor confirms, two banks bid, one offer is
taken and the other lapses, the bank approves, signs and disburses, and the anchor's invoice
payment repays interest and principal with the remainder going to the UMKM."""

from __future__ import annotations

from datetime import date, timedelta

from financing_support import PROBLEM, World, idem, mint, new_order, offer_body, publish
from sqlalchemy import func, select

from umkm_financing import domain
from umkm_financing.models import LimitEntry, LimitLayer, Repayment, messaging_tables
from umkm_financing.snap import WIB


async def limits_of(world: World, bank: str) -> dict[str, dict[str, int]]:
    b = world.bank_a if bank == "a" else world.bank_b
    r = await b.get(f"/v1/bank/programmes/{world.programmes[bank]}")
    assert r.status_code == 200, r.text
    out = {}
    for layer in r.json()["limits"]:
        out[layer["kind"]] = {k: layer[k] for k in ("limit_idr", "reserved_idr", "used_idr")}
    return out


async def test_purchase_order_to_closed_loop_repayment(world: World, runtime) -> None:
    client, anchor = world.client, world.anchor
    umkm = world.umkm_ids[0]
    order = new_order(world.anchor_id, umkm, amount=200_000_000)
    await publish(world.bus, order.issued(), order.accepted(), order.received(), order.invoiced())

    # A koperasi opens the application for its member from the invoice: pre-filled.
    kop = mint(world.app, "koperasi", actor_id="KOP-001")
    r = await client.post(
        "/v1/applications",
        json={"product": "invoice_financing", "po_id": str(order.po_id), "purpose": "modal"},
        headers=kop | idem(),
    )
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["status"] == "awaiting_confirmation"
    assert app["anchor_id"] == str(world.anchor_id) and app["umkm_id"] == str(umkm)
    assert app["amount_requested_idr"] == 200_000_000  # the invoice amount
    assert app["invoice_id"] == str(order.invoice_id)
    app_id = app["id"]

    # Banks see nothing before the anchor confirmed.
    r = await world.bank_a.get(f"/v1/bank/applications/{app_id}")
    assert r.status_code == 404

    # The anchor confirms: pre-screen passes, routed to both banks.
    r = await client.post(f"/v1/applications/{app_id}/confirm", json={}, headers=anchor | idem())
    assert r.status_code == 200, r.text
    app = r.json()
    assert app["status"] == "routed", app["prescreen"]
    assert sorted(app["prescreen"]["banks"]) == sorted([world.bank_a.bank_id, world.bank_b.bank_id])

    # Both banks find it in their queue and bid.
    for bank in (world.bank_a, world.bank_b):
        r = await bank.get("/v1/bank/applications?status=routed")
        assert app_id in [a["id"] for a in r.json()["items"]]
    r = await world.bank_a.post(
        f"/v1/bank/applications/{app_id}/offers", offer_body(amount_idr=160_000_000, rate_pa="0.12")
    )
    assert r.status_code == 201, r.text
    offer_a = r.json()
    r = await world.bank_b.post(
        f"/v1/bank/applications/{app_id}/offers",
        offer_body(amount_idr=150_000_000, rate_pa="0.10", fees_idr=0),
    )
    assert r.status_code == 201, r.text
    offer_b = r.json()
    assert (await limits_of(world, "a"))["programme"]["reserved_idr"] == 160_000_000
    assert (await limits_of(world, "b"))["supplier"]["reserved_idr"] == 150_000_000

    # Side by side, cheapest first; each bank sees only its own offer.
    r = await client.get(f"/v1/applications/{app_id}/offers", headers=kop)
    offers = r.json()
    assert [o["id"] for o in offers] == [offer_b["id"], offer_a["id"]]
    assert offers[0]["total_cost_idr"] == domain.interest_idr(
        150_000_000, domain.Decimal("0.10"), 60
    )
    r = await world.bank_a.get(f"/v1/bank/applications/{app_id}/offers")
    assert [o["id"] for o in r.json()] == [offer_a["id"]]

    # The koperasi takes bank B's offer; bank A's lapses and its reservation is released.
    r = await client.post(
        f"/v1/applications/{app_id}/offers/{offer_b['id']}/accept", headers=kop | idem()
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "offer_accepted"
    assert (await limits_of(world, "a"))["programme"]["reserved_idr"] == 0
    r = await world.bank_a.post(f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"})
    assert r.status_code == 409  # not bank A's to decide

    bank = world.bank_b
    r = await bank.post(
        f"/v1/bank/applications/{app_id}/decision",
        {"decision": "refer", "note": "Kirim laporan keuangan 6 bulan"},
    )
    assert r.json()["status"] == "referred", r.text
    r = await client.post(
        f"/v1/applications/{app_id}/info", json={"response": "Terlampir"}, headers=kop | idem()
    )
    assert r.json()["status"] == "offer_accepted", r.text
    r = await bank.post(f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"})
    assert r.json()["status"] == "approved", r.text

    # An illegal step is a 409 naming the allowed ones.
    disbursed_on = date.today() - timedelta(days=30)
    r = await bank.post(
        f"/v1/bank/applications/{app_id}/disbursement",
        {"amount_idr": 150_000_000, "disbursed_on": disbursed_on.isoformat(), "reference": "D1"},
    )
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert "sign_agreement" in r.json()["allowed"] and "withdraw" in r.json()["allowed"]

    r = await bank.post(
        f"/v1/bank/applications/{app_id}/agreement",
        {"agreement_reference": "AKAD-001", "signed_on": disbursed_on.isoformat()},
    )
    assert r.json()["status"] == "agreement_signed", r.text
    r = await bank.post(
        f"/v1/bank/applications/{app_id}/disbursement",
        {"amount_idr": 150_000_000, "disbursed_on": disbursed_on.isoformat(), "reference": "D1"},
    )
    assert r.status_code == 201, r.text
    loan = r.json()
    assert loan["principal_idr"] == 150_000_000 and loan["outstanding_idr"] == 150_000_000
    lim = await limits_of(world, "b")
    assert lim["programme"] == {
        "limit_idr": 5_000_000_000,
        "reserved_idr": 0,
        "used_idr": 150_000_000,
    }
    assert lim["anchor_cap"]["used_idr"] == 150_000_000

    # The anchor pays the invoice into the bank's account: the closed loop.
    paid_at = order.paid().paid_at
    await publish(world.bus, order.paid())
    r = await bank.get(f"/v1/bank/loans/{loan['id']}")
    loan = r.json()
    days = (paid_at.astimezone(WIB).date() - disbursed_on).days
    interest = domain.interest_idr(150_000_000, domain.Decimal("0.10"), days)
    assert interest > 0
    (rep,) = loan["repayments"]
    assert rep["source"] == "anchor_invoice_payment"
    assert rep["amount_idr"] == 200_000_000
    assert rep["interest_idr"] == interest
    assert rep["principal_idr"] == 150_000_000
    assert rep["remainder_idr"] == 200_000_000 - 150_000_000 - interest
    assert rep["interest_idr"] + rep["principal_idr"] + rep["remainder_idr"] == rep["amount_idr"]
    assert loan["status"] == "closed" and loan["closure_reason"] == "paid"
    assert loan["outstanding_idr"] == 0 and loan["interest_unpaid_idr"] == 0
    assert loan["remainder_paid_out_idr"] == rep["remainder_idr"]

    # The limits recovered; every layer reconciles to the ledger entries.
    lim = await limits_of(world, "b")
    assert lim["programme"]["used_idr"] == 0 and lim["supplier"]["used_idr"] == 0
    async with runtime.db.session() as s:
        for programme in world.programmes.values():
            sums = dict(
                (
                    await s.execute(
                        select(LimitEntry.kind, func.sum(LimitEntry.amount_idr))
                        .where(LimitEntry.programme_id == programme)
                        .group_by(LimitEntry.kind)
                    )
                ).all()
            )
            layer = await s.scalar(
                select(LimitLayer).where(
                    LimitLayer.programme_id == programme, LimitLayer.kind == "programme"
                )
            )
            reserve, release = sums.get("reserve", 0), sums.get("release", 0)
            use, recover = sums.get("use", 0), sums.get("recover", 0)
            assert layer.reserved_idr == reserve - release - use
            assert layer.used_idr == use - recover
        # A repeated InvoicePaid (a redelivery) changes nothing.
        count = await s.scalar(select(func.count()).select_from(Repayment))
    await publish(world.bus, order.paid())
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Repayment)) == count

    # Every step is in the history and was published as an event.
    r = await client.get(f"/v1/applications/{app_id}/history", headers=kop)
    actions = [h["action"] for h in r.json()]
    assert actions == [
        "open",
        "submit",
        "confirm",
        "make_offer",
        "make_offer",
        "accept_offer",
        "refer",
        "provide_info",
        "approve",
        "sign_agreement",
        "disburse",
        "repay",
        "close",
    ]
    outbox = messaging_tables.outbox
    async with runtime.db.session() as s:
        types = list(
            await s.scalars(
                select(outbox.c.type).where(outbox.c.key == app_id).order_by(outbox.c.id)
            )
        )
    assert types[0] == "id.umkm.financing.application.submitted.v1"
    for t in (
        "offer.made",
        "offer.lapsed",
        "offer.accepted",
        "application.approved",
        "loan.disbursed",
        "loan.repayment_applied",
        "loan.closed",
        "limit.reserved",
    ):
        assert f"id.umkm.financing.{t}.v1" in types, t

    # Reports: bank B's portfolio has the paid loan, nothing outstanding.
    r = await bank.get("/v1/bank/reports/portfolio?group_by=anchor")
    (row,) = r.json()["rows"]
    assert row["key"] == str(world.anchor_id) and row["volume_idr"] == 150_000_000
    assert row["outstanding_idr"] == 0


async def test_partial_payment_carries_interest_and_kol_ages(world: World, runtime) -> None:
    client, anchor = world.client, world.anchor
    order = new_order(world.anchor_id, world.umkm_ids[1], amount=100_000_000)
    await publish(world.bus, order.issued(), order.accepted(), order.received(), order.invoiced())
    r = await client.post(
        "/v1/applications",
        json={"product": "invoice_financing", "po_id": str(order.po_id), "tenor_days": 30},
        headers=anchor | idem(),
    )
    assert r.status_code == 201 and r.json()["status"] == "routed", r.text  # anchor-opened
    app_id = r.json()["id"]
    bank = world.bank_a
    r = await bank.post(
        f"/v1/bank/applications/{app_id}/offers",
        offer_body(amount_idr=80_000_000, rate_pa="0.12", tenor_days=30, fees_idr=0),
    )
    offer_id = r.json()["id"]
    r = await client.post(
        f"/v1/applications/{app_id}/offers/{offer_id}/accept", headers=anchor | idem()
    )
    assert r.status_code == 200, r.text
    await bank.post(f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"})
    d0 = date(2026, 1, 1)
    await bank.post(
        f"/v1/bank/applications/{app_id}/agreement",
        {"agreement_reference": "AK-2", "signed_on": d0.isoformat()},
    )
    r = await bank.post(
        f"/v1/bank/applications/{app_id}/disbursement",
        {"amount_idr": 80_000_000, "disbursed_on": d0.isoformat(), "reference": "D2"},
    )
    loan_id = r.json()["id"]
    # 365 days later the bank reports a partial payment: interest first.
    r = await bank.post(
        f"/v1/bank/loans/{loan_id}/repayments",
        {"amount_idr": 10_000_000, "paid_on": "2026-01-31", "reference": "R1"},
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    interest = domain.interest_idr(80_000_000, domain.Decimal("0.12"), 30)
    assert rep["interest_idr"] == interest
    assert rep["principal_idr"] == 10_000_000 - interest and rep["remainder_idr"] == 0
    # Ageing: due 2026-01-31, 100 days later it is kol 3 (91-120), non-performing.
    ministry = mint(world.app, "ministry")
    r = await client.post(
        "/v1/loans/ageing", json={"as_of": "2026-05-11"}, headers=ministry | idem()
    )
    assert r.status_code == 200, r.text
    r = await bank.get(f"/v1/bank/loans/{loan_id}")
    loan = r.json()
    assert loan["days_past_due"] == 100 and loan["kol"] == 3
    r = await client.get("/v1/reports/portfolio?group_by=bank", headers=ministry)
    row = next(x for x in r.json()["rows"] if x["key"] == bank.bank_id)
    assert row["npl_idr"] == loan["outstanding_idr"] > 0
    # Written off: closed, the exposure leaves the limits.
    r = await bank.post(f"/v1/bank/loans/{loan_id}/close", {"reason": "written_off"})
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    r = await bank.post(f"/v1/bank/loans/{loan_id}/close", {"reason": "written_off"})
    assert r.status_code == 409
    assert r.json()["allowed"] == []
