"""Reference data shipped with the package, loaded lazily and cached (no I/O at request time).

Every loader is a `functools.cache`d function returning a singleton table; call it where you need it
(or once at service startup to warm it). Sources and licences: NOTICE.md beside this file.
"""

from umkm_shared.reference.geo import (
    CentroidTable,
    Point,
    Population,
    area,
    centroids,
    population,
)
from umkm_shared.reference.kbli import (
    KBLI_LEVELS,
    KBLI_VERSIONS,
    KbliEntry,
    KbliLevel,
    KbliTable,
    KbliVersion,
    kbli,
)
from umkm_shared.reference.wilayah import (
    LEVEL_NAMES,
    Region,
    RegionKind,
    WilayahTable,
    fold_name,
    wilayah,
)


def preload(name_index: bool = True) -> None:
    """Load every table now (e.g. at service startup) so no request pays for a first load.

    `name_index` also builds the wilayah name index used by `search_by_name` (about 0.3 s).
    """
    table = wilayah()
    table.children("32")
    if name_index:
        table.search_by_name("Bandung")
    kbli()
    centroids()
    population()
    area()


__all__ = [
    "KBLI_LEVELS",
    "KBLI_VERSIONS",
    "LEVEL_NAMES",
    "CentroidTable",
    "KbliEntry",
    "KbliLevel",
    "KbliTable",
    "KbliVersion",
    "Point",
    "Population",
    "Region",
    "RegionKind",
    "WilayahTable",
    "area",
    "centroids",
    "fold_name",
    "kbli",
    "population",
    "preload",
    "wilayah",
]
