"""Webhooks to anchors and banks on the state changes they care about, delivered by the
delivery worker to real local HTTP receivers and signed the Standard Webhooks way: the anchor is
asked to confirm, the banks hear of the routed application, the losing bank of its lapse."""

from __future__ import annotations

import asyncio

from financing_support import Receiver, World, idem, mint, new_order, offer_body, publish


async def wait_for(receiver: Receiver, event_type: str, seconds: float = 15) -> dict:  # type: ignore[type-arg]
    async with asyncio.timeout(seconds):
        while True:
            for m in receiver.received:
                if m["body"] and m["body"].get("type") == event_type:
                    return m
            await asyncio.sleep(0.1)


async def test_anchor_and_banks_receive_webhooks(world: World, receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook"
    r = await world.client.post(
        "/v1/anchor/webhook-endpoints",
        json={"url": url + "?who=anchor"},
        headers=world.anchor | idem(),
    )
    assert r.status_code == 201, r.text
    assert r.json()["secret"].startswith("whsec_")
    r = await world.bank_b.post("/v1/bank/webhook-endpoints", {"url": url + "?who=bank-b"})
    assert r.status_code == 201, r.text
    r = await world.bank_a.get("/v1/bank/webhook-endpoints")
    assert r.status_code == 200 and r.json()["items"] == []  # B's endpoint is not A's

    order = new_order(world.anchor_id, world.umkm_ids[0], amount=50_000_000)
    await publish(world.bus, order.issued(), order.accepted(), order.received(), order.invoiced())
    kop = mint(world.app, "koperasi", actor_id="KOP-W")
    r = await world.client.post(
        "/v1/applications", json={"product": "invoice_financing", "po_id": str(order.po_id)},
        headers=kop | idem(),
    )  # fmt: skip
    app_id = r.json()["id"]
    asked = await wait_for(receiver, "application.confirmation_requested")
    assert asked["body"]["data"]["application_id"] == app_id
    assert asked["headers"]["webhook-signature"].startswith("v1,")
    assert asked["headers"]["webhook-id"]

    r = await world.client.post(
        f"/v1/applications/{app_id}/confirm", json={}, headers=world.anchor | idem()
    )
    assert r.json()["status"] == "routed", r.text
    routed = await wait_for(receiver, "application.routed")
    assert routed["body"]["data"]["status"] == "routed"

    r = await world.bank_b.post(
        f"/v1/bank/applications/{app_id}/offers", offer_body(amount_idr=40_000_000)
    )
    offer_b = r.json()["id"]
    r = await world.bank_a.post(
        f"/v1/bank/applications/{app_id}/offers", offer_body(amount_idr=40_000_000)
    )
    offer_a = r.json()["id"]
    await world.client.post(
        f"/v1/applications/{app_id}/offers/{offer_a}/accept", headers=kop | idem()
    )
    lapsed = await wait_for(receiver, "offer.lapsed")
    assert lapsed["body"]["data"]["offer_id"] == offer_b
