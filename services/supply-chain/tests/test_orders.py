"""Award -> purchase orders -> accept -> goods receipt (BAST) -> invoice -> payment, with the
events of each step in order; illegal steps are 409 naming the allowed ones; isolation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sc_support import idem, mint, new_anchor, request_body, seed_supplier, unique_unit
from sqlalchemy import select

from umkm_shared.ids import new_id
from umkm_shared.runtime import ServiceRuntime
from umkm_supply_chain.models import messaging_tables

PREFIX = "id.umkm.supply_chain."


async def event_types(runtime: ServiceRuntime, key: str) -> list[str]:
    outbox = messaging_tables.outbox
    async with runtime.db.session() as session:
        rows = await session.execute(
            select(outbox.c.type).where(outbox.c.key == key).order_by(outbox.c.id)
        )
        return [t.removeprefix(PREFIX).removesuffix(".v1") for (t,) in rows]


async def awarded_bundle(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime, anchor_id: str | None = None
) -> dict[str, Any]:
    unit = unique_unit()
    kop = new_id()
    members = [
        await seed_supplier(
            client,
            app,
            runtime.bus,
            kbli="29300",
            unit=unit,
            capacity=500,
            lat=la,
            lon=lo,
            koperasi_id=kop,
        )
        for la, lo in [(-6.32, 107.18), (-6.4, 107.3)]
    ]
    outsider = await seed_supplier(
        client, app, runtime.bus, kbli="29300", unit=unit, capacity=300, lat=-6.9, lon=107.6
    )
    anchor_id = anchor_id or await new_anchor(client, app)
    anchor = mint(app, "anchor", actor_id=anchor_id)
    body = request_body("29300", unit, 900, budget_idr=100_000_000)
    req = (await client.post("/v1/procurement-requests", json=body, headers=anchor | idem())).json()
    m = (await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=anchor)).json()
    bundle = m["bundles"][0]
    assert bundle["member_count"] == 2
    r = await client.post(
        f"/v1/procurement-requests/{req['id']}/awards",
        json={
            "match_id": m["id"],
            "bundle_id": bundle["bundle_id"],
            "unit_price_idr": 25_000,
            "payment_terms_days": 30,
        },
        headers=anchor | idem(),
    )
    assert r.status_code == 201, r.text
    return {
        "award": r.json(),
        "anchor": anchor,
        "anchor_id": anchor_id,
        "koperasi": mint(app, "koperasi", actor_id=kop),
        "members": members,
        "outsider": outsider,
        "request": req,
        "match": m,
    }


async def test_order_to_payment_with_events_in_order(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    s = await awarded_bundle(client, app, runtime)
    award, anchor, koperasi = s["award"], s["anchor"], s["koperasi"]
    assert award["request"]["status"] == "awarded"
    assert Decimal(award["request"]["awarded_quantity"]) == 900
    orders = award["orders"]
    assert len(orders) == 2
    assert sum(Decimal(o["quantity"]) for o in orders) == 900
    assert all(o["status"] == "issued" for o in orders)
    assert orders[0]["po_number"] != orders[1]["po_number"]
    po = orders[0]
    qty = Decimal(po["quantity"])
    assert po["amount_idr"] == int(qty * 25_000)
    assert po["allowed_actions"] == ["accept", "cancel", "decline"]
    url = f"/v1/purchase-orders/{po['id']}"

    # the supplier's side accepts; the anchor cannot accept for it
    r = await client.post(f"{url}/accept", headers=anchor)
    assert r.status_code == 403
    r = await client.post(f"{url}/accept", headers=koperasi)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"

    # illegal steps name what is allowed
    r = await client.post(f"{url}/invoice", json={}, headers=koperasi | idem())
    assert r.status_code == 409
    problem = r.json()
    assert problem["allowed"] == ["cancel", "receive"] and problem["status"] == "accepted"
    r = await client.post(
        f"{url}/payment", json={"payment_reference": "VA-1"}, headers=anchor | idem()
    )
    assert r.status_code == 409 and r.json()["allowed"] == ["cancel", "receive"]
    r = await client.post(f"{url}/accept", headers=koperasi)
    assert r.status_code == 409

    # BAST: received and accepted cannot exceed what was ordered / received
    r = await client.post(
        f"{url}/goods-receipt",
        json={"quantity_received": str(qty + 1), "quantity_accepted": "1"},
        headers=anchor | idem(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.quantity_received"
    r = await client.post(
        f"{url}/goods-receipt",
        json={"quantity_received": "10", "quantity_accepted": "11"},
        headers=anchor | idem(),
    )
    assert r.status_code == 422
    received_on = date.today()
    r = await client.post(
        f"{url}/goods-receipt",
        json={"quantity_received": str(qty), "quantity_accepted": str(qty - 10)},
        headers=anchor | idem(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["receipt"]["on_time"] is True

    r = await client.post(
        f"{url}/invoice", json={"invoice_number": "INV-001"}, headers=koperasi | idem()
    )
    assert r.status_code == 200, r.text
    invoice = r.json()["invoice"]
    assert invoice["amount_idr"] == int((qty - 10) * 25_000)
    assert invoice["due_on"] == str(received_on + timedelta(days=30))

    r = await client.post(
        f"{url}/payment",
        json={"payment_reference": "VA-8801", "amount_idr": invoice["amount_idr"] - 1},
        headers=anchor | idem(),
    )
    assert r.status_code == 422
    r = await client.post(
        f"{url}/payment", json={"payment_reference": "VA-8801"}, headers=anchor | idem()
    )
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["status"] == "paid" and paid["invoice"]["status"] == "paid"
    assert paid["allowed_actions"] == []
    r = await client.post(f"{url}/cancel", headers=anchor)
    assert r.status_code == 409 and r.json()["allowed"] == []

    assert await event_types(runtime, po["id"]) == [
        "purchase_order.issued",
        "purchase_order.accepted",
        "goods.received",
        "invoice.issued",
        "invoice.paid",
    ]

    # performance from the completed order
    member = (
        str(s["members"][0].umkm_id)
        if po["umkm_id"] == str(s["members"][0].umkm_id)
        else str(s["members"][1].umkm_id)
    )
    r = await client.get(f"/v1/suppliers/{member}", headers=koperasi)
    perf = r.json()["performance"]
    assert perf["completed_orders"] == 1 and perf["on_time_rate"] == 1.0
    assert abs(perf["acceptance_rate"] - float((qty - 10) / qty)) < 1e-6


async def test_decline_returns_quantity_and_isolation(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    s = await awarded_bundle(client, app, runtime)
    anchor, koperasi, orders = s["anchor"], s["koperasi"], s["award"]["orders"]
    po = orders[1]
    url = f"/v1/purchase-orders/{po['id']}"

    # another anchor: not found anywhere
    other = mint(app, "anchor", actor_id=await new_anchor(client, app, "PT LAIN"))
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.post(f"{url}/cancel", headers=other)).status_code == 404
    r = await client.get(f"/v1/procurement-requests/{s['request']['id']}", headers=other)
    assert r.status_code == 404
    r = await client.get(f"/v1/matches/{s['match']['id']}", headers=other)
    assert r.status_code == 404
    r = await client.post(
        f"/v1/procurement-requests/{s['request']['id']}/awards",
        json={"match_id": s["match"]["id"], "lines": [], "bundle_id": str(new_id())},
        headers=other | idem(),
    )
    assert r.status_code == 404
    r = await client.get("/v1/purchase-orders", headers=other)
    assert r.json()["items"] == []

    # a koperasi sees its members' orders only; another koperasi sees none of them
    r = await client.get(
        "/v1/purchase-orders", params={"request_id": s["request"]["id"]}, headers=koperasi
    )
    assert {o["id"] for o in r.json()["items"]} == {o["id"] for o in orders}
    stranger = mint(app, "koperasi", actor_id=new_id())
    assert (await client.get(url, headers=stranger)).status_code == 404
    assert (await client.post(f"{url}/accept", headers=stranger)).status_code == 404
    r = await client.get("/v1/purchase-orders", headers=stranger)
    assert r.json()["items"] == []
    # a Dinas elsewhere does not see it either; the Bekasi Dinas does
    jakarta = mint(app, "dinas", wilayah="31")
    assert (await client.get(url, headers=jakarta)).status_code == 404
    # (a Dinas client from the registry, with registry scopes only, works here too)
    bekasi = mint(app, "dinas", wilayah="32.16", scopes=frozenset({"registry:read"}))
    assert (await client.get(url, headers=bekasi)).status_code == 200

    # the outsider (not matched into the bundle, no order) is invisible to this koperasi
    r = await client.get(f"/v1/suppliers/{s['outsider'].umkm_id}", headers=koperasi)
    assert r.status_code == 404

    # the supplier's Dinas declines: the quantity goes back to the request
    r = await client.post(f"{url}/decline", json={"reason": "kapasitas penuh"}, headers=bekasi)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined"
    r = await client.get(f"/v1/procurement-requests/{s['request']['id']}", headers=anchor)
    req = r.json()
    assert req["status"] == "partly_awarded"
    assert Decimal(req["awarded_quantity"]) == 900 - Decimal(po["quantity"])
    assert await event_types(runtime, po["id"]) == [
        "purchase_order.issued",
        "purchase_order.declined",
    ]
    # closing is allowed now, cancelling is not
    r = await client.post(f"/v1/procurement-requests/{req['id']}/cancel", headers=anchor)
    assert r.status_code == 409
    assert r.json()["allowed"] == ["award", "close", "match"]


async def test_award_refuses_unmatched_suppliers_excess_quantity_and_budget(
    client: httpx.AsyncClient, app: FastAPI, runtime: ServiceRuntime
) -> None:
    unit = unique_unit()
    s1 = await seed_supplier(
        client, app, runtime.bus, kbli="29300", unit=unit, capacity=500, lat=-6.3, lon=107.1
    )
    anchor = mint(app, "anchor", actor_id=await new_anchor(client, app))
    body = request_body("29300", unit, 400, budget_idr=1_000_000)
    req = (await client.post("/v1/procurement-requests", json=body, headers=anchor | idem())).json()
    url = f"/v1/procurement-requests/{req['id']}/awards"
    r = await client.post(url, json={"match_id": str(new_id()), "lines": []}, headers=anchor)
    assert r.status_code == 400  # no Idempotency-Key
    r = await client.post(
        url,
        json={"match_id": str(new_id()), "lines": [{"umkm_id": str(s1.umkm_id), "quantity": "1"}]},
        headers=anchor | idem(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.match_id"
    m = (await client.post(f"/v1/procurement-requests/{req['id']}/matches", headers=anchor)).json()

    def award(lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"match_id": m["id"], "lines": lines, **extra}

    stranger = str(new_id())
    r = await client.post(
        url,
        json=award([{"umkm_id": stranger, "quantity": "1", "unit_price_idr": 1}]),
        headers=anchor | idem(),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.lines.0.umkm_id"
    line = {"umkm_id": str(s1.umkm_id), "quantity": "401", "unit_price_idr": 1000}
    r = await client.post(url, json=award([line]), headers=anchor | idem())
    assert r.status_code == 422 and "remain" in r.json()["detail"]
    line["quantity"] = "400"
    line["unit_price_idr"] = 2_501  # 400 x 2,501 = 1,000,400 > budget
    r = await client.post(url, json=award([line]), headers=anchor | idem())
    assert r.status_code == 422 and "budget" in r.json()["detail"]
    line["unit_price_idr"] = 2_500
    r = await client.post(url, json=award([line], payment_terms_days=0), headers=anchor | idem())
    assert r.status_code == 201, r.text
    assert r.json()["request"]["status"] == "awarded"
    assert r.json()["orders"][0]["amount_idr"] == 1_000_000
    r = await client.post(url, json=award([line]), headers=anchor | idem())
    assert r.status_code == 409 and r.json()["allowed"] == ["close"]
