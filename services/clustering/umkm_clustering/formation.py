"""Cluster formation: pure, vectorised (numpy), no I/O. See docs/clustering.md.

Input: one row per active UMKM (sector index, province, kab/kota, coordinates, its previous
cluster if it may keep it). Output: a cluster label per row and a table of clusters (kept,
new, split, merged, retired), plus the undersized groups and what was done with them.

From scratch (no previous clusters): rows are sorted by (sector, province, Hilbert index of
lat/lon, row order) and every (sector, province) group of at least `min_size` is cut into
`k` runs of equal length (k chosen so the runs are near `target_size` and within the
bounds). Smaller groups are handled explicitly, in this order:

1. a sector with fewer than `min_size` UMKM in the whole country whose taxonomy names a
   related sector (`join_with`) is clustered with that sector ("joined_sector");
2. a small (sector, province) group joins the nearest cluster of its sector in a neighbouring
   province that has room for it ("joined_neighbour_region");
3. the remaining small groups of one sector are pooled across provinces in the Hilbert order
   of their centres and cut into runs when the pool reaches `min_size` ("pooled_provinces");
4. else they become one "forming" cluster of the sector with the reason recorded ("forming").

Incremental (previous clusters given): every row keeps its previous cluster when its sector
and province did not change; the other rows go to the nearest cluster of their sector with
room; clusters over `max_size` split along their own curve order; clusters under `min_size`
merge into the nearest cluster of their sector with room (else they are marked forming).
Rows of sectors without any cluster are formed from scratch as above.

Deterministic: the only inputs are the arrays; ties are broken by row order (callers load
rows ordered by id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from .geo import hilbert_index, project_km

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

ACTIVE, FORMING, RETIRED = "active", "forming", "retired"


@dataclass(frozen=True)
class Params:
    min_size: int = 10_000
    max_size: int = 20_000
    target_size: int | None = None  # default: midway, leaving room to grow and shrink

    def __post_init__(self) -> None:
        if self.min_size < 1:
            raise ValueError("min_size must be at least 1")
        if self.max_size < 2 * self.min_size - 1:
            raise ValueError("max_size must be at least 2 * min_size - 1 (so any n >= min fits)")

    @property
    def target(self) -> int:
        t = self.target_size or (self.min_size + self.max_size) // 2
        return max(self.min_size, min(self.max_size, t))


@dataclass
class Points:
    """Columns of the rows to cluster (all the same length)."""

    sector: I64  # index into the sector list
    province: I64  # province code as int, e.g. 32
    regency: I64  # kab/kota code as int, e.g. 3273
    lat: F64
    lon: F64
    prev: I64 | None = None  # index into PreviousClusters, -1: none (or may not keep it)

    def __len__(self) -> int:
        return int(self.sector.shape[0])


@dataclass
class PreviousClusters:
    sector: I64  # effective sector of each previous cluster
    status: list[str]  # active / forming
    province: I64
    reason: list[str | None] | None = None

    def __len__(self) -> int:
        return int(self.sector.shape[0])


@dataclass
class Clusters:
    """Every cluster the run knows: previous ones first (same index), then new ones."""

    sector: list[int] = field(default_factory=list)
    province: list[int] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    reason: list[str | None] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)  # previous / formation / split / merge
    split_from: list[int] = field(default_factory=list)
    merged_into: list[int] = field(default_factory=list)
    joined_sectors: list[list[int]] = field(default_factory=list)

    def add(
        self,
        sector: int,
        province: int,
        status: str,
        reason: str | None,
        origin: str,
        split_from: int = -1,
    ) -> int:
        self.sector.append(sector)
        self.province.append(province)
        self.status.append(status)
        self.reason.append(reason)
        self.origin.append(origin)
        self.split_from.append(split_from)
        self.merged_into.append(-1)
        self.joined_sectors.append([])
        return len(self.sector) - 1

    def __len__(self) -> int:
        return len(self.sector)


@dataclass
class Result:
    label: I64  # cluster index per row
    clusters: Clusters
    undersized: list[dict[str, Any]]
    effective_sector: I64  # the sector each row was clustered in (after related-sector joins)
    previous_count: int  # clusters [0, previous_count) are the previous ones


def run_count(n: int, p: Params) -> int:
    """How many runs a group of n >= min_size is cut into: near target, within the bounds."""
    lo = -(-n // p.max_size)
    hi = n // p.min_size
    k = round(n / p.target)
    return max(lo, min(hi, max(k, 1)))


def _group_bounds(keys: I64) -> tuple[I64, I64]:
    """Start index and size of each run of equal values in a sorted key array."""
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.concatenate((starts, [len(keys)])))
    return starts.astype(np.int64), sizes.astype(np.int64)


def bisect(x: F64, y: F64, k: int) -> I64:
    """Recursive coordinate bisection: k parts of equal size (+-1) that are compact.

    Each node is cut across its longer side (in km) at the point that splits its count in the
    ratio of the parts wanted on each side; ties are broken by input order (stable sort), so
    the result is deterministic.
    """
    n = len(x)
    part = np.zeros(n, dtype=np.int64)
    stack: list[tuple[I64, int, int]] = [(np.arange(n, dtype=np.int64), 0, k)]
    while stack:
        idx, first, parts = stack.pop()
        if parts <= 1 or len(idx) == 0:
            part[idx] = first
            continue
        left_parts = parts // 2
        px, py = x[idx], y[idx]
        coord = px if np.ptp(px) >= np.ptp(py) else py
        order = idx[np.argsort(coord, kind="stable")]
        m = (len(idx) * left_parts) // parts
        stack.append((order[:m], first, left_parts))
        stack.append((order[m:], first + left_parts, parts - left_parts))
    return part


def effective_sectors(sector: I64, join_with: I64, p: Params) -> I64:
    """Map each row's sector to the sector it is clustered in: a sector with fewer than
    min_size rows in the whole country and a related sector (`join_with[s] >= 0`) joins it."""
    if len(sector) == 0:
        return sector.copy()
    totals = np.bincount(sector, minlength=len(join_with))
    target = np.arange(len(join_with), dtype=np.int64)
    small = (totals < p.min_size) & (join_with >= 0)
    target[small] = join_with[small]
    return target[sector]


class _Centres:
    """Running centroid sums per cluster, for nearest-cluster searches."""

    def __init__(self, x: F64, y: F64, label: I64, count: int) -> None:
        ok = label >= 0
        self.n = np.bincount(label[ok], minlength=count).astype(np.float64)
        self.sx = np.bincount(label[ok], weights=x[ok], minlength=count)
        self.sy = np.bincount(label[ok], weights=y[ok], minlength=count)

    def xy(self) -> tuple[F64, F64]:
        d = np.maximum(self.n, 1)
        return self.sx / d, self.sy / d


def form(
    points: Points,
    join_with: I64,
    params: Params,
    previous: PreviousClusters | None = None,
    sector_names: list[str] | None = None,
) -> Result:
    """Form clusters (from scratch, or incrementally from `previous`)."""
    n = len(points)
    names = sector_names or [str(i) for i in range(len(join_with))]
    eff = effective_sectors(points.sector, join_with, params)
    h = hilbert_index(points.lat, points.lon).astype(np.int64)
    x, y = project_km(points.lat, points.lon)
    clusters = Clusters()
    label = np.full(n, -1, dtype=np.int64)
    undersized: list[dict[str, Any]] = []
    prev_count = 0

    if previous is not None and len(previous) > 0:
        prev_count = len(previous)
        for i in range(prev_count):
            clusters.add(
                int(previous.sector[i]),
                int(previous.province[i]),
                previous.status[i],
                previous.reason[i] if previous.reason else None,
                "previous",
            )
        if points.prev is not None:
            keep = points.prev >= 0
            keep &= previous.sector[np.maximum(points.prev, 0)] == eff
            label[keep] = points.prev[keep]
        centres = _Centres(x, y, label, prev_count)
        # sectors with a cluster that still has members get the unplaced rows; others start fresh
        live = centres.n > 0
        has_cluster = np.zeros(len(join_with), dtype=bool)
        has_cluster[previous.sector[live]] = True
        pending = np.flatnonzero((label < 0) & has_cluster[eff])
        _assign_nearest(pending, eff, x, y, label, clusters, centres, params)
        fresh = np.flatnonzero(label < 0)
    else:
        fresh = np.arange(n, dtype=np.int64)

    if len(fresh):
        _form_fresh(fresh, points, eff, h, x, y, label, clusters, params, undersized, names)

    _rebalance(points, eff, h, x, y, label, clusters, params, prev_count, undersized, names)
    _record_joined_sectors(points.sector, eff, label, clusters)
    return Result(label, clusters, undersized, eff, prev_count)


def _form_fresh(
    rows: I64,
    points: Points,
    eff: I64,
    h: I64,
    x: F64,
    y: F64,
    label: I64,
    clusters: Clusters,
    p: Params,
    undersized: list[dict[str, Any]],
    names: list[str],
) -> None:
    # sort by (sector, province, curve, row): one int64 key, stable sort keeps row order
    key = (eff[rows] << 40) | (points.province[rows] << 33) | h[rows]
    order = rows[np.argsort(key, kind="stable")]
    gkey = eff[order] * 1000 + points.province[order]
    starts, sizes = _group_bounds(gkey)
    big = sizes >= p.min_size
    # 1) big groups: cut into k compact parts of equal size (recursive coordinate bisection)
    for g in np.flatnonzero(big):
        members = order[int(starts[g]) : int(starts[g] + sizes[g])]
        k = run_count(len(members), p)
        base = len(clusters)
        for _ in range(k):
            clusters.add(
                int(eff[members[0]]), int(points.province[members[0]]), ACTIVE, None, "formation"
            )
        label[members] = base + bisect(x[members], y[members], k)
    centres = _Centres(x, y, label, len(clusters))

    # 2) small groups: nearest cluster of the sector with room, else pooled, else forming
    small_groups = np.flatnonzero(~big)
    # largest first, so the groups that most need a home get the room
    small_groups = small_groups[np.lexsort((small_groups, -sizes[small_groups]))]
    sector_arr = np.asarray(clusters.sector, dtype=np.int64)
    pooled: dict[int, list[I64]] = {}
    for g in small_groups:
        members = order[int(starts[g]) : int(starts[g] + sizes[g])]
        s = int(eff[members[0]])
        prov_code = int(points.province[members[0]])
        gx, gy = float(x[members].mean()), float(y[members].mean())
        sector_arr = np.asarray(clusters.sector, dtype=np.int64)
        candidates = np.flatnonzero((sector_arr == s) & (np.asarray(clusters.status) != RETIRED))
        candidates = candidates[candidates < len(centres.n)]
        host = -1
        if len(candidates):
            cx, cy = centres.xy()
            room = centres.n[candidates] + len(members) <= p.max_size
            room &= centres.n[candidates] > 0
            if room.any():
                c = candidates[room]
                d = np.hypot(cx[c] - gx, cy[c] - gy)
                host = int(c[np.argmin(d)])
        entry = {
            "sector": names[s],
            "province": f"{prov_code:02d}",
            "members": len(members),
        }
        if host >= 0:
            label[members] = host
            centres.n[host] += len(members)
            centres.sx[host] += x[members].sum()
            centres.sy[host] += y[members].sum()
            note = (
                f"includes {len(members)} UMKM of province {prov_code:02d} "
                f"(fewer than {p.min_size} of the sector there)"
            )
            clusters.reason[host] = _append_reason(clusters.reason[host], note)
            entry |= {"action": "joined_neighbour_region", "cluster_index": host}
            undersized.append(entry)
        else:
            pooled.setdefault(s, []).append(members)
            entry |= {"action": "pending_pool"}
            undersized.append(entry)

    # 3) pool what is left per sector, ordered by the curve position of each group's centre
    for s in sorted(pooled):
        groups = pooled[s]
        centre_h = hilbert_index(
            np.array([points.lat[m].mean() for m in groups]),
            np.array([points.lon[m].mean() for m in groups]),
        ).astype(np.int64)
        ordered = [groups[i] for i in np.lexsort((np.arange(len(groups)), centre_h))]
        members = np.concatenate(ordered)
        provinces = sorted({f"{int(points.province[m[0]]):02d}" for m in groups})
        if len(members) >= p.min_size:
            k = run_count(len(members), p)
            run = bisect(x[members], y[members], k)
            base = len(clusters)
            reason = (
                f"pooled across provinces {', '.join(provinces)}: fewer than "
                f"{p.min_size} UMKM of the sector in each"
            )
            for r in range(k):
                part = members[run == r]
                prov = int(np.bincount(points.province[part]).argmax())
                clusters.add(s, prov, ACTIVE, reason, "formation")
            label[members] = base + run
            action = "pooled_provinces"
        elif _attach_to_nearest(groups, s, x, y, label, clusters, p):
            # too few for a cluster of their own, but the sector has clusters: each group joins
            # its nearest one (a cluster pushed over max is split afterwards)
            action = "joined_neighbour_region"
        else:
            prov = int(np.bincount(points.province[members]).argmax())
            reason = (
                f"forming: sector {names[s]} has only {len(members)} UMKM here without a "
                f"cluster (fewer than {p.min_size}) and no other cluster of the sector"
            )
            idx = clusters.add(s, prov, FORMING, reason, "formation")
            label[members] = idx
            action = "forming"
        for entry in undersized:
            if entry.get("action") == "pending_pool" and entry["sector"] == names[s]:
                entry["action"] = action


def _attach_to_nearest(
    groups: list[I64], sector: int, x: F64, y: F64, label: I64, clusters: Clusters, p: Params
) -> bool:
    """Put each group into the nearest active cluster of `sector`; False if there is none."""
    count = len(clusters)
    status = np.asarray(clusters.status)
    cand = np.flatnonzero((np.asarray(clusters.sector) == sector) & (status == ACTIVE))
    if len(cand) == 0:
        return False
    centres = _Centres(x, y, label, count)
    cx, cy = centres.xy()
    cand = cand[centres.n[cand] > 0]
    if len(cand) == 0:
        return False
    for members in groups:
        gx, gy = float(x[members].mean()), float(y[members].mean())
        host = int(cand[np.argmin(np.hypot(cx[cand] - gx, cy[cand] - gy))])
        label[members] = host
        note = f"includes {len(members)} UMKM of a small group joined to its nearest cluster"
        clusters.reason[host] = _append_reason(clusters.reason[host], note)
    return True


def _append_reason(old: str | None, note: str) -> str:
    if not old:
        return note
    if len(old) > 1500:
        return old if old.endswith("…") else old + "; …"
    return f"{old}; {note}"


def _assign_nearest(
    rows: I64,
    eff: I64,
    x: F64,
    y: F64,
    label: I64,
    clusters: Clusters,
    centres: _Centres,
    p: Params,
    k_nearest: int = 8,
) -> None:
    """Place rows in the nearest cluster of their sector with room (in rounds over the k
    nearest); rows that find no room go to the nearest (and the cluster splits later)."""
    if len(rows) == 0:
        return
    sector_arr = np.asarray(clusters.sector, dtype=np.int64)
    status = np.asarray(clusters.status)
    cx, cy = centres.xy()
    for s in np.unique(eff[rows]):
        mine = rows[eff[rows] == s]
        cands = np.flatnonzero((sector_arr == s) & (status != RETIRED) & (centres.n > 0))
        if len(cands) == 0:
            continue
        k = min(k_nearest, len(cands))
        tree = cKDTree(np.column_stack((cx[cands], cy[cands])))
        dist, idx = tree.query(np.column_stack((x[mine], y[mine])), k=k)
        dist = dist.reshape(len(mine), k)
        idx = cands[idx.reshape(len(mine), k)]
        placed = np.full(len(mine), -1, dtype=np.int64)
        room = p.max_size - centres.n.astype(np.int64)
        for r in range(k):
            todo = np.flatnonzero(placed < 0)
            if len(todo) == 0:
                break
            choice = idx[todo, r]
            o = np.lexsort((todo, dist[todo, r], choice))
            todo, choice = todo[o], choice[o]
            starts, sizes = _group_bounds(choice)
            rank = np.arange(len(todo)) - np.repeat(starts, sizes)
            ok = rank < room[choice]
            placed[todo[ok]] = choice[ok]
            np.subtract.at(room, choice[ok], 1)
        left = placed < 0
        placed[left] = idx[left, 0]
        label[mine] = placed
        np.add.at(centres.n, placed, 1)
        np.add.at(centres.sx, placed, x[mine])
        np.add.at(centres.sy, placed, y[mine])


def _rebalance(
    points: Points,
    eff: I64,
    h: I64,
    x: F64,
    y: F64,
    label: I64,
    clusters: Clusters,
    p: Params,
    prev_count: int,
    undersized: list[dict[str, Any]],
    names: list[str],
) -> None:
    """Merge clusters under min into the nearest cluster of their sector (with room if there
    is one), split clusters over max, retire empty ones, settle forming/active status."""
    count = len(clusters)
    sizes = np.bincount(label, minlength=count).astype(np.int64)
    centres = _Centres(x, y, label, count)
    cx, cy = centres.xy()
    sector_arr = np.asarray(clusters.sector, dtype=np.int64)
    status = clusters.status
    # merge: an active cluster under min, or a forming one once its sector has an active cluster
    small = [
        c for c in range(count) if status[c] in (ACTIVE, FORMING) and 0 < sizes[c] < p.min_size
    ]
    small.sort(key=lambda c: (int(sizes[c]), c))
    for c in small:
        if sizes[c] >= p.min_size or status[c] == RETIRED:
            continue
        st = np.asarray(status)
        cand = np.flatnonzero(
            (sector_arr == sector_arr[c]) & (np.arange(count) != c) & (st == ACTIVE) & (sizes > 0)
        )
        entry = {
            "sector": names[int(sector_arr[c])],
            "province": f"{clusters.province[c]:02d}",
            "members": int(sizes[c]),
            "cluster_index": int(c),
        }
        if len(cand):
            room = cand[sizes[cand] + sizes[c] <= p.max_size]
            pool = room if len(room) else cand  # no room anywhere: the host splits below
            host = int(pool[np.argmin(np.hypot(cx[pool] - cx[c], cy[pool] - cy[c]))])
            label[label == c] = host
            sizes[host] += sizes[c]
            sizes[c] = 0
            status[c] = RETIRED
            clusters.merged_into[c] = host
            clusters.reason[c] = f"merged: fewer than {p.min_size} members"
            entry |= {"action": "merged_into_neighbour", "into_cluster_index": host}
        else:
            status[c] = FORMING
            clusters.reason[c] = (
                f"forming: {int(sizes[c])} members (fewer than {p.min_size}) and no other "
                f"cluster of sector {names[int(sector_arr[c])]}"
            )
            entry |= {"action": "forming"}
        undersized.append(entry)
    # split: over max -> retired, its members cut into compact parts (new clusters)
    for big in np.flatnonzero(sizes > p.max_size):
        c = int(big)
        members = np.flatnonzero(label == c)
        k = run_count(len(members), p)
        run = bisect(x[members], y[members], k)
        base = len(clusters)
        for r in range(k):
            part = members[run == r]
            prov = int(np.bincount(points.province[part]).argmax())
            clusters.add(clusters.sector[c], prov, ACTIVE, clusters.reason[c], "split", c)
        label[members] = base + run
        status[c] = RETIRED
        clusters.reason[c] = f"split: grew to {len(members)} members (> {p.max_size})"
    sizes = np.bincount(label, minlength=len(clusters)).astype(np.int64)
    # settle: empty clusters retire; forming clusters that reached min become active
    for c in range(len(clusters)):
        if status[c] == RETIRED:
            continue
        if sizes[c] == 0:
            status[c] = RETIRED
            clusters.reason[c] = clusters.reason[c] or "no members left"
        elif status[c] == FORMING and sizes[c] >= p.min_size:
            status[c] = ACTIVE
            clusters.reason[c] = None


def _record_joined_sectors(sector: I64, eff: I64, label: I64, clusters: Clusters) -> None:
    joined = np.flatnonzero(sector != eff)
    if len(joined) == 0:
        return
    pairs = np.unique(np.column_stack((label[joined], sector[joined])), axis=0)
    for c, s in pairs:
        if int(s) not in clusters.joined_sectors[int(c)]:
            clusters.joined_sectors[int(c)].append(int(s))
