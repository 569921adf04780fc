"""Rules without I/O: lifecycles, amounts, the bundle solver against brute force, and the
index's incremental updates."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from umkm_shared.errors import Conflict
from umkm_supply_chain import domain
from umkm_supply_chain.matching import (
    CertIn,
    MatchQuery,
    ProductIn,
    SupplierIn,
    SupplierIndex,
    match,
    solve_bundle,
)


def test_lifecycle_refuses_with_the_allowed_steps() -> None:
    assert domain.ORDER.next("issued", "accept") == "accepted"
    with pytest.raises(Conflict) as e:
        domain.ORDER.next("issued", "pay")
    assert e.value.extra["allowed"] == ["accept", "cancel", "decline"]
    with pytest.raises(Conflict) as e:
        domain.REQUEST.next("closed", "award")
    assert e.value.extra["allowed"] == []
    assert set(domain.ORDER_SIDE) == {a for s in domain.ORDER.steps.values() for a in s}


def test_units_fold_common_spellings() -> None:
    assert domain.normalise_unit(" Buah ") == domain.normalise_unit("PCS") == "pcs"
    assert domain.normalise_unit("Kilogram") == "kg"
    assert domain.normalise_unit("karung") == "karung"


def test_amounts_and_dates() -> None:
    assert domain.amount_idr(Decimal("2.5"), 3) == 8  # 7.5 rounds half up
    assert domain.due_on(date(2026, 1, 31), 30) == date(2026, 3, 2)
    assert domain.due_on(date(2026, 1, 31), 0) == date(2026, 1, 31)
    score, _, _ = domain.performance_score(0, 0, 0, 0)
    assert score == pytest.approx(0.8)
    assert (
        domain.performance_score(10, 10, 100, 100)[0] > domain.performance_score(10, 5, 100, 100)[0]
    )


def _brute(cap: np.ndarray, dist: np.ndarray, q: float) -> tuple[int, float]:
    for k in range(1, len(cap) + 1):
        best = min(
            (
                dist[list(c)].sum()
                for c in itertools.combinations(range(len(cap)), k)
                if cap[list(c)].sum() >= q
            ),
            default=None,
        )
        if best is not None:
            return k, float(best)
    raise AssertionError("not coverable")


def test_bundles_are_minimal_and_nearest() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 11))
        cap = rng.integers(1, 60, n).astype(float)
        dist = rng.uniform(0, 300, n)
        q = float(rng.integers(20, 250))
        solved = solve_bundle(cap, dist, q)
        assert solved is not None
        members, covers = solved
        if cap.sum() < q:
            assert not covers
            continue
        k, best = _brute(cap, dist, q)
        assert covers and len(members) == k
        assert cap[members].sum() >= q
        assert dist[members].sum() == pytest.approx(best)


def test_large_pool_still_finds_the_minimal_count() -> None:
    rng = np.random.default_rng(3)
    cap = rng.uniform(1, 100, 50_000)
    dist = rng.uniform(0, 500, 50_000)
    q = 2_000.0
    members, covers = solve_bundle(cap, dist, q, pool=2000)  # type: ignore[misc]
    k = int(np.searchsorted(np.cumsum(np.sort(cap)[::-1]), q)) + 1
    assert covers and len(members) == k and cap[members].sum() >= q


def _supplier(lat: float, capacity: float, unit: str = "pcs", **kw: object) -> SupplierIn:
    return SupplierIn(
        umkm_id=uuid.uuid4(),
        business_name="X",
        latitude=lat,
        longitude=107.0,
        active=True,
        lead_time_days=None,
        certifications=[CertIn("halal", None)],
        products=[ProductIn("10794", "keripik tempe", ["renyah"], {}, capacity, unit)],
        **kw,  # type: ignore[arg-type]
    )


def _query(**kw: object) -> MatchQuery:
    base: dict[str, object] = {
        "quantity": 100.0,
        "unit": "pcs",
        "latitude": -6.0,
        "longitude": 107.0,
        "deadline": date.today() + timedelta(days=30),
        "today": date.today(),
        "kbli_code": "10794",
    }
    base.update(kw)
    return MatchQuery(**base)  # type: ignore[arg-type]


def test_index_updates_replace_products_and_keywords_match() -> None:
    index = SupplierIndex()
    a, b = _supplier(-6.1, 50), _supplier(-6.2, 500)
    index.upsert([a, b])
    got = match(index, _query())
    assert got["candidates"][0]["umkm_id"] == str(b.umkm_id)
    # b changes its unit: it drops out; a grows and now covers alone
    b.products = [ProductIn("10794", "keripik", [], {}, 500, "kg")]
    a.products = [ProductIn("10794", "keripik tempe", [], {}, 150, "pcs")]
    index.upsert([a, b])
    got = match(index, _query())
    assert [c["umkm_id"] for c in got["candidates"]] == [str(a.umkm_id)]
    index.compact()
    assert index.product_rows == 2
    assert match(index, _query()) == got
    # keywords only: the share of words found is the category fit
    got = match(index, _query(kbli_code=None, keywords=["tempe", "pedas"]))
    assert got["candidates"][0]["breakdown"]["category"]["value"] == 0.5
    assert match(index, _query(kbli_code=None, keywords=["sepatu"]))["candidates"] == []
    # the unindexed scan gives the same answer as the indexed path
    assert match(index, _query(), scan=True) == match(index, _query())


def test_blocks_tail_and_compaction_agree_with_the_scan() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    index = SupplierIndex()
    p_supplier = np.concatenate([np.arange(n), np.arange(0, n, 3)])
    index.bulk_load(
        ids=[uuid.UUID(int=i + 1) for i in range(n)],
        names=[f"UMKM {i}" for i in range(n)],
        lat=rng.uniform(-7.5, -6.0, n),
        lon=rng.uniform(106.0, 108.5, n),
        lead=np.full(n, -1, dtype=np.int32),
        cert_until={"halal": np.where(rng.random(n) < 0.5, 2**31 - 1, 0).astype(np.int32)},
        perf=(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)),
        koperasi=(np.arange(n) % 40).astype(np.int32),
        cluster=np.full(n, -1, dtype=np.int32),
        p_supplier=p_supplier,
        p_kbli=np.where(rng.random(len(p_supplier)) < 0.7, 10794, 10792).astype(np.int32),
        p_capacity=rng.integers(1, 100, len(p_supplier)).astype(float),
        p_unit=np.array(["kg"] * len(p_supplier)),
        p_lead=np.full(len(p_supplier), -1, dtype=np.int32),
        p_names=["keripik"] * len(p_supplier),
        token_rows=np.arange(len(p_supplier)),
        token_values=["keripik"],
        token_codes=np.zeros(len(p_supplier), dtype=np.int64),
        koperasi_ids=[uuid.UUID(int=10**6 + i) for i in range(40)],
    )
    queries = [
        _query(unit="kg", quantity=q, max_distance_km=d, latitude=-6.8, longitude=107.2)
        for q in (50.0, 900.0, 5000.0)
        for d in (None, 60.0)
    ]
    for q in queries:
        assert match(index, q) == match(index, q, scan=True)
    # changes land in the per-KBLI tail; old rows become tombstones
    index.upsert([_supplier(-6.81, 3000.0, "kg"), _supplier(-6.9, 20.0, "kg")])
    changed = SupplierIn(
        umkm_id=uuid.UUID(int=5),
        business_name="UMKM 4",
        latitude=-6.8,
        longitude=107.2,
        active=True,
        lead_time_days=None,
        certifications=[],
        products=[ProductIn("10794", "keripik", [], {}, 777.0, "kg")],
    )
    index.upsert([changed])
    answers = [match(index, q) for q in queries]
    for q, a in zip(queries, answers, strict=True):
        assert a == match(index, q, scan=True)
    wide = _query(unit="kg", quantity=900.0, latitude=-6.8, longitude=107.2, candidate_limit=5000)
    got = {c["umkm_id"]: c for c in match(index, wide)["candidates"]}
    assert got[str(changed.umkm_id)]["capacity"] == 777.0
    index.compact()
    assert index.dead_rows == 0 and not index.block_tail
    assert [match(index, q) for q in queries] == answers
