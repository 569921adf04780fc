"""The limits ledger under contention, over the real PostgreSQL: many parallel reservations
against shared layers never overrun any layer, and what is reserved equals the sum of the
reservations that succeeded. Release, use and recovery keep every layer reconciled."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from financing_support import World, idem, new_order, offer_body, programme_body, publish
from sqlalchemy import select

from umkm_financing import limits
from umkm_financing.models import LimitEntry, LimitLayer, Programme
from umkm_shared.ids import new_id
from umkm_shared.runtime import ServiceRuntime


async def _programme(world: World, runtime: ServiceRuntime, **body: object) -> Programme:
    r = await world.bank_a.post("/v1/bank/programmes", programme_body(world.anchor_id, **body))
    assert r.status_code == 201, r.text
    async with runtime.db.session() as s:
        p = await s.get(Programme, uuid.UUID(r.json()["id"]))
    assert p is not None
    return p


async def _layers(runtime: ServiceRuntime, programme: Programme) -> list[LimitLayer]:
    async with runtime.db.session() as s:
        rows = await s.scalars(
            select(LimitLayer).where(
                (LimitLayer.programme_id == programme.id)
                | (
                    (LimitLayer.kind == "anchor_cap")
                    & (LimitLayer.bank_id == programme.bank_id)
                    & (LimitLayer.anchor_id == programme.anchor_id)
                )
            )
        )
        return list(rows)


async def test_parallel_reservations_never_overrun_any_layer(world: World, runtime) -> None:
    # A fresh anchor so this bank's cap on it is this test's alone.
    from financing_support import anchor_event

    anchor = new_id()
    await publish(world.bus, anchor_event(anchor))
    world.anchor_id = anchor
    programme = await _programme(
        world, runtime, programme_limit_idr=30_000_000, supplier_sublimit_idr=4_000_000,
        anchor_exposure_cap_idr=25_000_000,
    )  # fmt: skip
    suppliers = [new_id() for _ in range(8)]
    rng = random.Random(7)
    asks = [(rng.choice(suppliers), rng.randrange(100_000, 600_000, 1000)) for _ in range(200)]

    async def one(umkm: uuid.UUID, amount: int) -> bool:
        try:
            async with runtime.db.transaction() as session:
                await limits.reserve(session, programme, umkm, amount)
            return True
        except limits.LimitExceeded:
            return False

    results = await asyncio.gather(*(one(u, a) for u, a in asks))
    granted = [ask for ask, ok in zip(asks, results, strict=True) if ok]
    assert 0 < len(granted) < len(asks)  # contention actually refused some

    layers = await _layers(runtime, programme)
    by_kind = {(x.kind, x.umkm_id): x for x in layers}
    total = sum(a for _, a in granted)
    assert by_kind[("anchor_cap", None)].reserved_idr == total <= 25_000_000
    assert by_kind[("programme", None)].reserved_idr == total <= 30_000_000
    for umkm in suppliers:
        mine = sum(a for u, a in granted if u == umkm)
        layer = by_kind.get(("supplier", umkm))
        assert (layer.reserved_idr if layer else 0) == mine <= 4_000_000
    for x in layers:
        assert x.reserved_idr + x.used_idr <= x.limit_idr
    async with runtime.db.session() as s:
        logged = await s.scalars(
            select(LimitEntry.amount_idr).where(
                LimitEntry.programme_id == programme.id, LimitEntry.kind == "reserve"
            )
        )
        assert sum(logged) == total

    # Release everything, then use and recover: the layers come back to zero.
    async with runtime.db.transaction() as session:
        for umkm in suppliers:
            mine = sum(a for u, a in granted if u == umkm)
            if mine:
                await limits.shift(session, programme, umkm, release=mine, use=mine)
                await limits.shift(session, programme, umkm, recover=mine)
    for x in await _layers(runtime, programme):
        assert (x.reserved_idr, x.used_idr) == (0, 0)


async def test_lowering_a_limit_below_use_is_refused(world: World, runtime) -> None:
    programme = await _programme(world, runtime, supplier_sublimit_idr=1_000_000)
    umkm = new_id()
    async with runtime.db.transaction() as session:
        await limits.reserve(session, programme, umkm, 800_000)
    path = f"/v1/bank/programmes/{programme.id}/suppliers/{umkm}"
    r = await world.bank_a.put(path, {"limit_idr": 500_000})
    assert r.status_code == 409, r.text
    r = await world.bank_a.put(path, {"limit_idr": 900_000})
    assert r.status_code == 200, r.text
    async with runtime.db.transaction() as session:
        with pytest.raises(limits.LimitExceeded) as e:
            await limits.reserve(session, programme, umkm, 100_001)
    assert e.value.extra["layer"] == "supplier" and e.value.extra["available_idr"] == 100_000


async def test_parallel_offers_over_http_respect_the_supplier_sublimit(world: World) -> None:
    """Twelve applications of one supplier; bank A bids on all at once against a sub-limit
    that fits only five: exactly five offers win, the rest get 409 naming the layer."""
    umkm = world.umkm_ids[0]
    r = await world.bank_a.put(
        f"/v1/bank/programmes/{world.programmes['a']}/suppliers/{umkm}", {"limit_idr": 500_000_000}
    )
    assert r.status_code == 200, r.text
    app_ids = []
    for _ in range(12):
        order = new_order(world.anchor_id, umkm, amount=120_000_000)
        await publish(
            world.bus, order.issued(), order.accepted(), order.received(), order.invoiced()
        )
        r = await world.client.post(
            "/v1/applications",
            json={"product": "invoice_financing", "po_id": str(order.po_id), "tenor_days": 60},
            headers=world.anchor | idem(),
        )
        assert r.status_code == 201 and r.json()["status"] == "routed", r.text
        app_ids.append(r.json()["id"])
    responses = await asyncio.gather(
        *(
            world.bank_a.post(
                f"/v1/bank/applications/{a}/offers", offer_body(amount_idr=96_000_000)
            )
            for a in app_ids
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 5 + [409] * 7, [r.text for r in responses if r.status_code != 201]
    assert {r.json()["layer"] for r in responses if r.status_code == 409} == {"supplier"}
    r = await world.bank_a.get(f"/v1/bank/programmes/{world.programmes['a']}")
    supplier = next(x for x in r.json()["limits"] if x["umkm_id"] == str(umkm))
    assert supplier["reserved_idr"] == 5 * 96_000_000
