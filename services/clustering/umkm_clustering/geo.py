"""Geometry for clustering: a Hilbert curve over Indonesia and flat-earth distances in km.

Indonesia straddles the equator (about 11°S to 6°N), so an equirectangular projection with
each point's own cos(latitude) is within a fraction of a percent of the great-circle distance
at the scale of a cluster (tens of km).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Bounding box used for the curve and the report map (a little wider than the land).
LAT_MIN, LAT_MAX = -11.5, 6.5
LON_MIN, LON_MAX = 94.5, 141.5
HILBERT_ORDER = 16  # 65,536 cells per axis: ~80 m cells over 5,200 km

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320

F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]


def hilbert_index(lat: F64, lon: F64, order: int = HILBERT_ORDER) -> U64:
    """Position of each point along a Hilbert curve over the bounding box (vectorised)."""
    n = 1 << order
    fy = (np.clip(lat, LAT_MIN, LAT_MAX) - LAT_MIN) / (LAT_MAX - LAT_MIN)
    fx = (np.clip(lon, LON_MIN, LON_MAX) - LON_MIN) / (LON_MAX - LON_MIN)
    x = np.minimum((fx * n).astype(np.int64), n - 1)
    y = np.minimum((fy * n).astype(np.int64), n - 1)
    d = np.zeros(x.shape, dtype=np.uint64)
    s = n >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += np.uint64(s) * np.uint64(s) * ((3 * rx.astype(np.uint64)) ^ ry.astype(np.uint64))
        # rotate the quadrant so the curve stays continuous
        flip = (~ry) & rx
        x = np.where(flip, s - 1 - x, x)
        y = np.where(flip, s - 1 - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        x &= s - 1
        y &= s - 1
        s >>= 1
    return d


def project_km(lat: F64, lon: F64) -> tuple[F64, F64]:
    """Planar (x, y) in km, for nearest-neighbour search and distances."""
    x = lon * KM_PER_DEG_LON * np.cos(np.radians(lat))
    y = lat * KM_PER_DEG_LAT
    return x.astype(np.float64), y.astype(np.float64)


def distance_km(lat1: F64, lon1: F64, lat2: F64, lon2: F64) -> F64:
    """Equirectangular distance in km (element-wise)."""
    mean_lat = np.radians((lat1 + lat2) / 2)
    dx = (lon1 - lon2) * KM_PER_DEG_LON * np.cos(mean_lat)
    dy = (lat1 - lat2) * KM_PER_DEG_LAT
    return np.asarray(np.hypot(dx, dy), dtype=np.float64)
