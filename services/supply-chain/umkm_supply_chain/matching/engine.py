"""Matching: hard filters, a weighted and explained score, and aggregated bundles.

Hard filters (a candidate failing any is not shown):
- product: the request's KBLI 5-digit code exactly (when given), else at least one keyword;
- the same unit, a declared monthly capacity above zero, an active supplier;
- lead time (product's, else the supplier's; unknown passes) within the days left to the deadline;
- every required certification valid on the deadline;
- distance from the supplier to the delivery site within `max_distance_km` (when given; a
  supplier without coordinates fails it).

Score factors (each 0..1; the score is their weighted mean, weights from settings):
- category: 1 for the KBLI match; with keywords, the mean of that and the share of the
  request's keywords the product has (keywords only: that share);
- capacity: monthly capacity / quantity still needed, at most 1;
- distance: 1 - km / scale (scale = max_distance_km or the default), at least 0;
- certifications: the share of preferred certifications valid on the deadline (none preferred:
  1 if any certification is valid then, else 0);
- performance: mean of on-time rate and acceptance rate from completed orders, shrunk towards
  0.8 for suppliers with little history;
- cluster: 1 in a cluster operated by the requesting anchor, 0.5 in another cluster or a koperasi.

Bundles (when no single candidate's capacity covers the quantity): the minimal number k of
suppliers whose capacities can cover it (exact: the k largest capacities), then among sets of k
that cover it the one with the least total distance (exact for k <= 2; for k >= 3 the better
of a greedy-by-capacity and a nearest-feasible construction, each improved by swaps,
exhaustive when the candidate pool is small). The same
is done within each koperasi and each cluster whose members together can cover the quantity.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from ..domain import keyword_tokens, normalise_unit
from .index import UNKNOWN, SupplierIndex, day_number

FACTORS = ("category", "capacity", "distance", "certifications", "performance", "cluster")
EARTH_KM = 6371.0088
KM_PER_DEG_LAT = 111.2
EPS = 1e-9
FAR = 1e7  # distance stand-in for suppliers without coordinates
PARTIAL_MEMBERS = 50
EXACT_COMBINATIONS = 20_000
NEAREST_START_MAX_K = 40
MAX_SWAPS = 100


@dataclass
class MatchQuery:
    quantity: float
    unit: str
    latitude: float
    longitude: float
    deadline: date
    today: date
    kbli_code: str | None = None
    keywords: list[str] = field(default_factory=list)
    required_certifications: list[str] = field(default_factory=list)
    preferred_certifications: list[str] = field(default_factory=list)
    max_distance_km: float | None = None
    anchor_id: uuid.UUID | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FACTORS, 1.0))
    default_distance_km: float = 500.0
    candidate_limit: int = 20
    bundle_limit: int = 5
    bundle_pool: int = 2000
    always_bundles: bool = False


@dataclass
class _Feasible:
    """The candidates that passed the hard filters, one (best) product row per supplier."""

    rows: np.ndarray  # product rows
    sup: np.ndarray  # supplier rows
    cap: np.ndarray
    dist: np.ndarray  # km, NaN without coordinates
    lead: np.ndarray
    factors: dict[str, np.ndarray]
    score: np.ndarray


def haversine_km(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    p1, p2 = np.radians(lat), np.radians(lat0)
    dphi = p2 - p1
    dlmb = np.radians(lon0) - np.radians(lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


def _token_codes(index: SupplierIndex, q: MatchQuery) -> tuple[list[int], int]:
    words = keyword_tokens(*q.keywords)
    codes = [c for w in words if (c := index.tokens.lookup(w)) is not None]
    return codes, len(words)


def _token_hits(index: SupplierIndex, codes: list[int]) -> np.ndarray:
    """Per product row, how many of the request's keywords it has."""
    hits = np.zeros(index.product_rows, dtype=np.uint8)
    for code in codes:
        hits[index.by_token.get(code)] += 1
    return hits


def _candidates(
    index: SupplierIndex, q: MatchQuery, hits: np.ndarray | None, scan: bool
) -> tuple[dict[str, np.ndarray], bool]:
    """Columns of the candidate product rows (before the hard filters), and whether the rows
    of one supplier are adjacent."""
    if not q.kbli_code:  # keywords only: the rows having any of them (postings)
        if hits is None:
            return index.columns(np.empty(0, dtype=np.int64)), False
        return index.columns(np.flatnonzero(hits).astype(np.int64)), False
    if scan:  # the unindexed baseline: mask every row, then gather
        return index.columns(np.flatnonzero(index.p_kbli.view == int(q.kbli_code))), False
    band = None
    if q.max_distance_km is not None:  # latitude band by binary search in the block
        dlat = q.max_distance_km / KM_PER_DEG_LAT + 0.01
        band = (q.latitude - dlat, q.latitude + dlat)
    return index.kbli_candidates(int(q.kbli_code), band)


def _best_row_per_supplier(
    index: SupplierIndex, rows: np.ndarray, sup: np.ndarray, score: np.ndarray, adjacent: bool
) -> np.ndarray:
    """Indices of one row per supplier: its best-scoring product (ties: the lower row)."""
    if not index.p_multi.data[rows].any():
        return np.arange(len(rows))
    if adjacent:  # runs of equal supplier (rows ascending within a run): no sort needed
        new_run = np.empty(len(sup), dtype=np.bool_)
        new_run[0] = True
        new_run[1:] = sup[1:] != sup[:-1]
        starts = np.flatnonzero(new_run)
        run_id = np.cumsum(new_run) - 1
        best = np.maximum.reduceat(score, starts)
        cand = np.flatnonzero(score == best[run_id])
        first = np.empty(len(cand), dtype=np.bool_)
        first[0] = True
        first[1:] = run_id[cand][1:] != run_id[cand][:-1]
        return cand[first]
    multi = index.p_multi.data[rows]
    m_idx = np.flatnonzero(multi)
    order = m_idx[np.lexsort((rows[m_idx], -score[m_idx]))]
    first_idx = np.unique(sup[order], return_index=True)[1]
    return np.concatenate([np.flatnonzero(~multi), order[first_idx]])


def feasible(index: SupplierIndex, q: MatchQuery, *, scan: bool = False) -> _Feasible | None:
    """Apply the hard filters and score what is left (one best row per supplier)."""
    codes, n_words = _token_codes(index, q)
    unit = index.units.lookup(normalise_unit(q.unit))
    if unit is None:
        return None
    hits = _token_hits(index, codes) if codes else None
    c, adjacent = _candidates(index, q, hits, scan)
    if len(c["rows"]) == 0:
        return None
    days_left = (q.deadline - q.today).days
    keep = (
        (c["unit"] == unit)
        & (c["cap"] > 0)
        & c["active"]
        & ((c["lead"] < 0) | (c["lead"] <= days_left))
        & index.p_live.data[c["rows"]]
    )
    if q.max_distance_km is not None:  # (again for the tail, the scan and keyword paths)
        keep &= np.abs(c["lat"] - q.latitude) <= q.max_distance_km / KM_PER_DEG_LAT + 0.01
    c = {k: v[keep] for k, v in c.items()}
    deadline_day = day_number(q.deadline)
    certs = index.s_cert.data
    if q.required_certifications and len(c["rows"]):
        keep = np.ones(len(c["rows"]), dtype=np.bool_)
        for kind in q.required_certifications:
            col = index.cert_kinds.lookup(kind.lower())
            if col is None:
                return None
            keep &= certs[c["sup"], col] >= deadline_day
        c = {k: v[keep] for k, v in c.items()}
    dist = haversine_km(c["lat"], c["lon"], q.latitude, q.longitude)
    if q.max_distance_km is not None:
        keep = dist <= q.max_distance_km  # NaN (no coordinates) compares False
        c = {k: v[keep] for k, v in c.items()}
        dist = dist[keep]
    rows, sup = c["rows"], c["sup"]
    if len(rows) == 0:
        return None

    # --- factors ---
    if hits is not None:
        share = hits[rows] / max(n_words, 1)
    else:
        share = np.zeros(len(rows))
    if q.kbli_code and q.keywords:
        category = 0.5 + 0.5 * share
    elif q.kbli_code:
        category = np.ones(len(rows))
    else:
        category = share
    cap = c["cap"]
    capacity = np.minimum(1.0, cap / max(q.quantity, EPS))
    scale = q.max_distance_km or q.default_distance_km
    distance = np.where(np.isnan(dist), 0.0, np.clip(1.0 - dist / scale, 0.0, 1.0))
    preferred = [index.cert_kinds.lookup(k.lower()) for k in q.preferred_certifications]
    if preferred:
        held = [
            certs[sup, col] >= deadline_day if col is not None else np.zeros(len(rows), bool)
            for col in preferred
        ]
        cert_fit = np.mean(held, axis=0)
    else:
        cert_fit = (c["cert_max"] >= deadline_day).astype(np.float64)
    performance = c["perf"].astype(np.float64)
    cl = c["cluster"]
    own = [code for code, a in index.cluster_operator.items() if a == q.anchor_id]
    in_own = np.isin(cl, own) if own else np.zeros(len(rows), bool)
    member = (cl != UNKNOWN) | (c["koperasi"] != UNKNOWN)
    cluster = np.where(in_own, 1.0, np.where(member, 0.5, 0.0))
    factors = {
        "category": category,
        "capacity": capacity,
        "distance": distance,
        "certifications": cert_fit,
        "performance": performance,
        "cluster": cluster,
    }
    total_w = sum(q.weights.get(f, 0.0) for f in FACTORS) or 1.0
    score = sum(q.weights.get(f, 0.0) * factors[f] for f in FACTORS) / total_w
    score = np.asarray(score, dtype=np.float64)

    pick = _best_row_per_supplier(index, rows, sup, score, adjacent)
    return _Feasible(
        rows=rows[pick],
        sup=sup[pick],
        cap=cap[pick],
        dist=dist[pick],
        lead=c["lead"][pick],
        factors={k: np.asarray(v)[pick] for k, v in factors.items()},
        score=score[pick],
    )


# --- bundles ---------------------------------------------------------------------------------


def _swap_improve(c: np.ndarray, d: np.ndarray, members: np.ndarray, q: float) -> np.ndarray:
    """Replace members by nearer non-members while the set still covers `q` (best swap first)."""
    members = members.copy()
    by_d = np.argsort(d, kind="stable")
    for _ in range(min(4 * len(members) + 4, MAX_SWAPS)):
        in_set = np.zeros(len(c), dtype=np.bool_)
        in_set[members] = True
        total = c[members].sum()
        cand = by_d[~in_set[by_d]]
        if len(cand) == 0:
            break
        prefmax = np.maximum.accumulate(c[cand])
        need = q - (total - c[members]) - EPS
        pos = np.searchsorted(prefmax, need, side="left")
        ok = pos < len(cand)
        if not ok.any():
            break
        # first candidate (nearest) whose capacity meets the need of each member's swap
        gains = np.full(len(members), -np.inf)
        chosen = np.full(len(members), -1)
        for i in np.flatnonzero(ok):
            j = cand[pos[i]]
            chosen[i] = j
            gains[i] = d[members[i]] - d[j]
        best = int(np.argmax(gains))
        if gains[best] <= EPS:
            break
        members[best] = chosen[best]
    return members


def _nearest_feasible(c: np.ndarray, d: np.ndarray, k: int, q: float) -> np.ndarray | None:
    """Build k members nearest first, each time only among picks that keep the rest coverable."""
    avail = np.ones(len(c), dtype=np.bool_)
    chosen: list[int] = []
    need = q
    for step in range(k):
        r = k - step
        ac = np.where(avail, c, -np.inf)
        if r - 1 > 0:
            top = np.argpartition(-ac, r - 1)[: r - 1]
            t_prev = ac[top].sum()
            in_top = np.zeros(len(c), dtype=np.bool_)
            in_top[top] = True
            t_r = t_prev + np.partition(-ac, r - 1)[r - 1] * -1
            ok = avail & ((in_top & (t_r >= need - EPS)) | (c + t_prev >= need - EPS))
        else:
            ok = avail & (c >= need - EPS)
        if not ok.any():
            return None
        j = int(np.flatnonzero(ok)[np.argmin(d[ok])])
        chosen.append(j)
        avail[j] = False
        need -= c[j]
    return np.array(chosen, dtype=np.int64)


def _pair_exact(c: np.ndarray, d: np.ndarray, q: float) -> np.ndarray | None:
    """The covering pair with the least total distance (O(n log n))."""
    n = len(c)
    order = np.argsort(c, kind="stable")
    cs, ds = c[order], d[order]
    best1 = np.full(n + 1, -1)
    best2 = np.full(n + 1, -1)
    b1 = b2 = -1
    for i in range(n - 1, -1, -1):  # suffix best and second best by distance
        if b1 < 0 or ds[i] < ds[b1]:
            b1, b2 = i, b1
        elif b2 < 0 or ds[i] < ds[b2]:
            b2 = i
        best1[i], best2[i] = b1, b2
    pos = np.searchsorted(cs, q - cs - EPS, side="left")
    partner = best1[pos]
    partner = np.where(partner == np.arange(n), best2[pos], partner)
    valid = partner >= 0
    if not valid.any():
        return None
    totals = np.where(valid, ds + ds[np.maximum(partner, 0)], np.inf)
    i = int(np.argmin(totals))
    return np.array([order[i], order[partner[i]]], dtype=np.int64)


def solve_bundle(
    cap: np.ndarray, dist: np.ndarray, q: float, pool: int = 2000, key: np.ndarray | None = None
) -> tuple[np.ndarray, bool] | None:
    """Members (indices into cap/dist) of the fewest suppliers covering `q`, nearest such set;
    `covers` False when all together cannot (then the largest capacities, at most 50).
    `key` (e.g. supplier ids) breaks ties, so the answer does not depend on the input order."""
    n = len(cap)
    if n == 0:
        return None
    key = np.arange(n) if key is None else key
    d = np.where(np.isnan(dist), FAR, dist)
    half = max(pool // 2, 1)
    if n > pool:  # the largest capacities without sorting everything
        top = np.argpartition(-cap, half)[: half + 1]
        top = top[np.lexsort((key[top], -cap[top]))]
        if cap[top].sum() < q - EPS:
            top = np.lexsort((key, -cap))
    else:
        top = np.lexsort((key, -cap))
    cum = np.cumsum(cap[top])
    if cum[-1] < q - EPS:
        return top[:PARTIAL_MEMBERS], False
    k = int(np.searchsorted(cum, q - EPS, side="left")) + 1
    if n > pool:
        near = np.argpartition(d, half)[:half]
        idx = np.unique(np.concatenate([top[: max(half, k)], near]))
        idx = idx[np.argsort(key[idx], kind="stable")]  # canonical order
    else:
        idx = np.argsort(key, kind="stable")
    c, dd = cap[idx], d[idx]
    if k == 1:
        ok = np.flatnonzero(c >= q - EPS)
        return idx[[ok[np.argmin(dd[ok])]]], True
    if k == 2:
        pair = _pair_exact(c, dd, q)
        if pair is not None:
            return idx[pair], True
    if math.comb(len(c), k) <= EXACT_COMBINATIONS:  # small enough to be exact
        combos = np.array(list(itertools.combinations(range(len(c)), k)), dtype=np.int64)
        covering = c[combos].sum(axis=1) >= q - EPS
        totals = np.where(covering, dd[combos].sum(axis=1), np.inf)
        return idx[combos[int(np.argmin(totals))]], True
    local = np.argsort(-c, kind="stable")[:k]
    starts = [local]
    if k <= NEAREST_START_MAX_K:  # O(k x pool): worth it while bundles stay small
        near_start = _nearest_feasible(c, dd, k, q)
        if near_start is not None:
            starts.append(near_start)
    best: np.ndarray | None = None
    for start in starts:
        sol = _swap_improve(c, dd, start, q)
        if best is None or dd[sol].sum() < dd[best].sum() - EPS:
            best = sol
    assert best is not None
    return idx[best], True


# --- result ----------------------------------------------------------------------------------


def _round(x: float, n: int = 4) -> float:
    return float(round(float(x), n))


def _candidate(index: SupplierIndex, f: _Feasible, i: int, q: MatchQuery) -> dict[str, Any]:
    total_w = sum(q.weights.get(k, 0.0) for k in FACTORS) or 1.0
    s = int(f.sup[i])
    row = int(f.rows[i])
    kop = int(index.s_koperasi.data[s])
    cl = int(index.s_cluster.data[s])
    dist = float(f.dist[i])
    return {
        "umkm_id": str(index.ids[s]),
        "business_name": index.names[s],
        "score": _round(f.score[i]),
        "product": {
            "kbli_code": f"{int(index.p_kbli.data[row]):05d}",
            "name": index.p_names[row],
            "monthly_capacity": float(f.cap[i]),
            "unit": index.units.values[int(index.p_unit.data[row])],
        },
        "capacity": float(f.cap[i]),
        "distance_km": None if np.isnan(dist) else _round(dist, 2),
        "lead_time_days": None if f.lead[i] < 0 else int(f.lead[i]),
        "koperasi_id": str(index.koperasi.values[kop]) if kop >= 0 else None,
        "cluster_id": str(index.clusters.values[cl]) if cl >= 0 else None,
        "on_time_rate": _round(index.s_on_time.data[s]),
        "acceptance_rate": _round(index.s_accept.data[s]),
        "completed_orders": int(index.s_completed.data[s]),
        "breakdown": {
            k: {
                "value": _round(f.factors[k][i]),
                "weight": _round(q.weights.get(k, 0.0) / total_w),
                "contribution": _round(q.weights.get(k, 0.0) * f.factors[k][i] / total_w),
            }
            for k in FACTORS
        },
    }


def _bundle(
    index: SupplierIndex,
    f: _Feasible,
    members: np.ndarray,
    covers: bool,
    q: MatchQuery,
    kind: str,
    group: str | None,
) -> dict[str, Any]:
    d = np.where(np.isnan(f.dist[members]), FAR, f.dist[members])
    order = members[np.argsort(d, kind="stable")]
    remaining = q.quantity
    out = []
    for i in order.tolist():
        take = min(float(f.cap[i]), max(remaining, 0.0))
        remaining -= take
        dist = float(f.dist[i])
        out.append(
            {
                "umkm_id": str(index.ids[int(f.sup[i])]),
                "business_name": index.names[int(f.sup[i])],
                "quantity": _round(take, 3),
                "capacity": float(f.cap[i]),
                "distance_km": None if np.isnan(dist) else _round(dist, 2),
                "score": _round(f.score[i]),
            }
        )
    dists = f.dist[members]
    return {
        "kind": kind,
        "group_id": group,
        "members": out,
        "member_count": len(out),
        "total_capacity": float(f.cap[members].sum()),
        "total_distance_km": _round(float(np.nansum(dists)), 2),
        "max_distance_km": _round(float(np.nanmax(dists)), 2) if np.isfinite(dists).any() else None,
        "covers_quantity": covers,
    }


def _group_bundles(
    index: SupplierIndex, f: _Feasible, q: MatchQuery, codes: np.ndarray, kind: str
) -> list[dict[str, Any]]:
    has = codes >= 0
    if not has.any():
        return []
    totals = np.bincount(codes[has], weights=f.cap[has])
    groups = np.flatnonzero(totals >= q.quantity - EPS)
    if len(groups) == 0:
        return []
    # the groups with the most capacity are the ones likely to need the fewest members
    groups = groups[np.argsort(-totals[groups], kind="stable")][: q.bundle_limit]
    values = index.koperasi.values if kind == "koperasi" else index.clusters.values
    solved_groups = []
    for g in groups.tolist():
        sel = np.flatnonzero(codes == g)
        solved = solve_bundle(f.cap[sel], f.dist[sel], q.quantity, q.bundle_pool, key=f.sup[sel])
        if solved is None or not solved[1]:
            continue
        members = sel[solved[0]]
        total = float(np.nansum(f.dist[members]))
        solved_groups.append((len(members), total, g, members))
    solved_groups.sort(key=lambda x: (x[0], x[1], x[2]))
    return [
        _bundle(index, f, members, True, q, kind, str(values[g]))
        for _, _, g, members in solved_groups[: q.bundle_limit]
    ]


def match(index: SupplierIndex, q: MatchQuery, *, scan: bool = False) -> dict[str, Any]:
    """Candidates (best first, with score breakdown) and, when needed, bundles."""
    with index.lock:
        f = feasible(index, q, scan=scan)
        if f is None:
            return {
                "feasible_count": 0,
                "single_supplier_possible": False,
                "candidates": [],
                "bundles": [],
            }
        d = np.where(np.isnan(f.dist), FAR, f.dist)
        k = min(q.candidate_limit, len(f.score))
        top = np.argpartition(-f.score, k - 1)[:k] if k < len(f.score) else np.arange(k)
        top = top[np.lexsort((f.sup[top], d[top], -f.score[top]))]
        candidates = [_candidate(index, f, int(i), q) for i in top]
        for rank, c in enumerate(candidates, 1):
            c["rank"] = rank
        single = bool((f.cap >= q.quantity - EPS).any())
        bundles: list[dict[str, Any]] = []
        if not single or q.always_bundles:
            solved = solve_bundle(f.cap, f.dist, q.quantity, q.bundle_pool, key=f.sup)
            if solved is not None:
                bundles.append(_bundle(index, f, solved[0], solved[1], q, "suppliers", None))
            grouped = _group_bundles(
                index, f, q, index.s_koperasi.data[f.sup], "koperasi"
            ) + _group_bundles(index, f, q, index.s_cluster.data[f.sup], "cluster")
            grouped.sort(key=lambda b: (b["member_count"], b["total_distance_km"]))
            bundles += grouped[: max(q.bundle_limit - len(bundles), 0)]
        return {
            "feasible_count": len(f.score),
            "single_supplier_possible": single,
            "candidates": candidates,
            "bundles": bundles,
        }
