"""Approximate centre points, population and land area of regions (2025 codes).

Centre points are for synthetic data, maps and distance estimates only. No desa has one; about
1,160 kecamatan have none (no source point, or an implausible one dropped by `_prepare.py`); some
province and kabupaten/kota points are derived from the points below them (see NOTICE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import NamedTuple

from umkm_shared.reference._files import read_rows
from umkm_shared.reference.wilayah import code_level, code_parent, wilayah


class Point(NamedTuple):
    lat: float
    lng: float
    approximate: bool  # True when this is not the region's own point (see CentroidTable.point)
    source_code: str  # the region the point belongs to

    @property
    def source_level(self) -> int:
        return code_level(self.source_code)


class CentroidTable:
    def __init__(self, points: dict[str, tuple[float, float]], derived: frozenset[str]) -> None:
        self._points = points
        self._derived = derived  # codes whose point was derived from the points below them

    def point(self, code: str) -> Point | None:
        """Centre point of region `code` (canonical dotted), or None if the code does not exist.

        Falls back up the hierarchy when the region has no point of its own: desa -> kecamatan ->
        kabupaten/kota -> province. `approximate` is True when the point came from an ancestor
        (`source_code` says which) or was derived from the points below it (a few provinces and
        kabupaten/kota); it is False only for the region's own point from the source.
        """
        if not wilayah().exists(code):
            return None
        current: str | None = code
        while current is not None:
            found = self._points.get(current)
            if found is not None:
                approximate = current != code or current in self._derived
                return Point(found[0], found[1], approximate, current)
            current = code_parent(current)
        return None  # unreachable with the shipped data: every province has a point


@cache
def centroids() -> CentroidTable:
    """The centre points, loaded once on first use."""
    points: dict[str, tuple[float, float]] = {}
    derived: set[str] = set()
    for code, _name, _level, lat, lng, is_derived in read_rows("centroids_2025.csv"):
        points[code] = (float(lat), float(lng))
        if is_derived == "1":
            derived.add(code)
    return CentroidTable(points, frozenset(derived))


class Population(NamedTuple):
    male: int
    female: int
    total: int


@cache
def population() -> Mapping[str, Population]:
    """2025 population per province and kabupaten/kota code (read-only mapping)."""
    return MappingProxyType(
        {
            code: Population(int(male), int(female), int(total))
            for code, _name, male, female, total in read_rows("population_2025.csv")
        }
    )


@cache
def area() -> Mapping[str, float]:
    """Land area in km² per province and kabupaten/kota code (read-only mapping)."""
    return MappingProxyType({code: float(km2) for code, _name, km2 in read_rows("area_2025.csv")})
