"""Where synthetic businesses are: desa/kelurahan drawn by population, kecamatan centre points.

A kabupaten/kota gets businesses in proportion to its 2025 population; inside it, every desa or
kelurahan is equally likely. Coordinates jitter around the kecamatan's centre point (or the
kabupaten/kota point when the kecamatan has none) by a distance that grows with the kecamatan's
estimated size (kabupaten/kota land area / number of kecamatan).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from umkm_shared.identifiers import parse_wilayah
from umkm_shared.reference import area, centroids, population, wilayah
from umkm_shared.synthetic._vocab import DEFAULT_GROUPS, KABKOTA_GROUPS, PROVINCE_GROUPS

if TYPE_CHECKING:
    import numpy as np

# standard deviation of the jitter, as a share of the kecamatan's radius
JITTER_SHARE_OF_RADIUS = 0.35


@dataclass(frozen=True)
class RegionTable:
    """Desa/kelurahan that can be drawn (all of them, or those inside `within`)."""

    within: str | None
    desa_codes: list[str]  # canonical dotted codes
    desa_cum: np.ndarray  # cumulative draw probability per desa (last = 1.0)
    desa_kec: np.ndarray  # index into the kec_* arrays
    kec_codes: list[str]
    kec_nik: np.ndarray  # int64: the 6-digit NIK region number (PPKKCC)
    kec_lat: np.ndarray
    kec_lng: np.ndarray
    kec_sd_km: np.ndarray  # jitter standard deviation in km
    kec_kab: np.ndarray  # index into kab_codes
    kab_codes: list[str]
    kab_groups: list[tuple[tuple[str, ...], tuple[float, ...]]]  # naming groups, cumulative p


@cache
def _all_regions() -> RegionTable:
    import numpy as np

    table = wilayah()
    pops = population()
    areas = area()
    points = centroids()
    kab_codes = sorted(r.code for r in table.all(2))
    kab_index = {code: i for i, code in enumerate(kab_codes)}
    kec_codes = sorted(r.code for r in table.all(3))
    kec_index = {code: i for i, code in enumerate(kec_codes)}
    desa_codes = sorted(r.code for r in table.all(4))

    n_kec_in_kab = np.zeros(len(kab_codes), dtype=np.int64)
    kec_kab = np.array([kab_index[c[:5]] for c in kec_codes], dtype=np.int32)
    np.add.at(n_kec_in_kab, kec_kab, 1)
    desa_kec = np.array([kec_index[c[:8]] for c in desa_codes], dtype=np.int32)
    n_desa_in_kab = np.zeros(len(kab_codes), dtype=np.int64)
    np.add.at(n_desa_in_kab, kec_kab[desa_kec], 1)

    kab_pop = np.array([pops[c].total for c in kab_codes], dtype=np.float64)
    desa_weight = (kab_pop / np.maximum(n_desa_in_kab, 1))[kec_kab[desa_kec]]

    kec_lat = np.empty(len(kec_codes))
    kec_lng = np.empty(len(kec_codes))
    kec_sd = np.empty(len(kec_codes))
    for i, code in enumerate(kec_codes):
        point = points.point(code)
        assert point is not None
        kec_lat[i], kec_lng[i] = point.lat, point.lng
        kab = kec_kab[i]
        kec_area = areas.get(kab_codes[kab], 100.0) / max(int(n_kec_in_kab[kab]), 1)
        kec_sd[i] = JITTER_SHARE_OF_RADIUS * math.sqrt(kec_area / math.pi)
    kec_nik = np.array([int(c.replace(".", "")) for c in kec_codes], dtype=np.int64)

    kab_groups = []
    for code in kab_codes:
        mix = KABKOTA_GROUPS.get(code) or PROVINCE_GROUPS.get(code[:2]) or DEFAULT_GROUPS
        total = sum(w for _, w in mix)
        cum, running = [], 0.0
        for _, weight in mix:
            running += weight / total
            cum.append(running)
        cum[-1] = 1.0
        kab_groups.append((tuple(g for g, _ in mix), tuple(cum)))

    return RegionTable(
        within=None,
        desa_codes=desa_codes,
        desa_cum=_cumulative(desa_weight),
        desa_kec=desa_kec,
        kec_codes=kec_codes,
        kec_nik=kec_nik,
        kec_lat=kec_lat,
        kec_lng=kec_lng,
        kec_sd_km=kec_sd,
        kec_kab=kec_kab,
        kab_codes=kab_codes,
        kab_groups=kab_groups,
    )


def _cumulative(weights: np.ndarray) -> np.ndarray:
    import numpy as np

    cum = np.cumsum(weights, dtype=np.float64)
    cum /= cum[-1]
    cum[-1] = 1.0
    return cum


def normalize_within(within: str | None) -> str | None:
    """Canonical dotted code of an existing region (any level), or None for all of Indonesia."""
    if within is None or within == "":
        return None
    return parse_wilayah(within)


@cache
def regions(within: str | None = None) -> RegionTable:
    """The drawable desa, restricted to those inside `within` (a canonical dotted code)."""
    import numpy as np

    full = _all_regions()
    if within is None:
        return full
    keep = np.array(
        [code == within or code.startswith(within + ".") for code in full.desa_codes], dtype=bool
    )
    if not keep.any():  # pragma: no cover - every existing region has desa below it
        raise ValueError(f"no desa/kelurahan inside {within}")
    weights = np.diff(full.desa_cum, prepend=0.0)[keep]
    return RegionTable(
        within=within,
        desa_codes=[c for c, k in zip(full.desa_codes, keep, strict=True) if k],
        desa_cum=_cumulative(weights),
        desa_kec=full.desa_kec[keep],
        kec_codes=full.kec_codes,
        kec_nik=full.kec_nik,
        kec_lat=full.kec_lat,
        kec_lng=full.kec_lng,
        kec_sd_km=full.kec_sd_km,
        kec_kab=full.kec_kab,
        kab_codes=full.kab_codes,
        kab_groups=full.kab_groups,
    )
