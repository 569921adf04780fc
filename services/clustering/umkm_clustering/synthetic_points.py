"""Synthetic UMKM points as arrays (benchmarks and tests): kab/kota drawn by population,
coordinates scattered around the kab/kota centre by its area, sectors in the shares of the
synthetic registry generator's catalogue, with an uneven (lognormal) sector mix per province."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from umkm_shared.reference import area, centroids, population, wilayah

# Shares of the ministry's cluster sectors among synthetic UMKM (umkm_shared.synthetic catalogue).
SECTOR_SHARES: dict[str, float] = {
    "kuliner": 0.3454,
    "perdagangan": 0.1907,
    "pertanian": 0.1187,
    "fesyen": 0.0846,
    "pariwisata": 0.0685,
    "otomotif": 0.0387,
    "jasa_lainnya": 0.0321,
    "kelautan_perikanan": 0.0318,
    "kesehatan_kecantikan": 0.0264,
    "perumahan": 0.0224,
    "kerajinan": 0.0219,
    "transportasi": 0.0125,
    "mbg": 0.0040,
    "olahraga": 0.0014,
    "pertambangan_energi": 0.0010,
}


@dataclass
class RegencyTable:
    codes: list[str]
    province: npt.NDArray[np.int64]
    regency: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    sigma_km: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float64]


def regencies() -> RegencyTable:
    pop = population()
    areas = area()
    cents = centroids()
    codes = [r.code for r in wilayah().all(2) if r.code in pop]
    pts = [cents.point(c) for c in codes]
    lat = np.array([p.lat if p else 0.0 for p in pts])
    lon = np.array([p.lng if p else 120.0 for p in pts])
    sigma = np.array([max(2.0, np.sqrt(areas.get(c, 400.0)) / 4) for c in codes])
    weight = np.array([float(pop[c].total) for c in codes])
    return RegencyTable(
        codes,
        np.array([int(c[:2]) for c in codes], dtype=np.int64),
        np.array([int(c.replace(".", "")) for c in codes], dtype=np.int64),
        lat,
        lon,
        sigma,
        weight / weight.sum(),
    )


@dataclass
class SyntheticPoints:
    sector: npt.NDArray[np.int64]
    province: npt.NDArray[np.int64]
    regency: npt.NDArray[np.int64]
    regency_row: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    sectors: list[str]


def generate_points(
    n: int, seed: int = 7, shares: dict[str, float] | None = None, unevenness: float = 0.6
) -> SyntheticPoints:
    rng = np.random.default_rng(seed)
    table = regencies()
    shares = shares or SECTOR_SHARES
    sectors = list(shares)
    base = np.array([shares[s] for s in sectors])
    reg = rng.choice(len(table.codes), size=n, p=table.weight)
    # uneven sector mix: a lognormal factor per (province, sector)
    provinces = np.unique(table.province)
    factor = rng.lognormal(0.0, unevenness, size=(len(provinces), len(sectors)))
    mix = base[None, :] * factor
    mix /= mix.sum(axis=1, keepdims=True)
    prow = np.searchsorted(provinces, table.province[reg])
    cum = np.cumsum(mix, axis=1)
    u = rng.random(n)
    sector = (u[:, None] > cum[prow]).sum(axis=1).astype(np.int64)
    sector = np.minimum(sector, len(sectors) - 1)
    sig = table.sigma_km[reg]
    lat = table.lat[reg] + rng.normal(0, 1, n) * sig / 110.574
    lon = table.lon[reg] + rng.normal(0, 1, n) * sig / 111.32
    return SyntheticPoints(
        sector, table.province[reg], table.regency[reg], reg.astype(np.int64), lat, lon, sectors
    )
