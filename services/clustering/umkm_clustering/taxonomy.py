"""The sector taxonomy: KBLI codes -> cluster sectors, as data the ministry can change (versioned).

A rule maps a KBLI prefix (1 to 5 digits) to a sector; the longest matching prefix wins. A code
no rule matches falls back to its golongan pokok (2-digit division): sector `kbli-47` etc.
A sector may name a related sector (`join_with`): when the sector has fewer than `min_size`
UMKM in the whole country, its UMKM are clustered with the related sector (visible in the
report and the cluster's `joined_sectors`).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from umkm_shared.reference import kbli

SECTOR_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
FALLBACK_PREFIX = "kbli-"


class SectorDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=SECTOR_CODE.pattern, examples=["kuliner"])
    name: str = Field(min_length=1, max_length=200)
    join_with: str | None = Field(
        None, description="Related sector to join when this one is under min in the country"
    )


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kbli_prefix: str = Field(pattern=r"^\d{1,5}$", examples=["561"])
    sector: str


class TaxonomyIn(BaseModel):
    """A full taxonomy (PUT replaces the current one with a new version)."""

    model_config = ConfigDict(extra="forbid")

    sectors: list[SectorDef] = Field(min_length=1, max_length=500)
    rules: list[Rule] = Field(min_length=1, max_length=20_000)
    note: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> TaxonomyIn:
        codes = [s.code for s in self.sectors]
        if len(set(codes)) != len(codes):
            raise ValueError("sectors: duplicate sector code")
        if any(c.startswith(FALLBACK_PREFIX) for c in codes):
            raise ValueError(f"sectors: codes starting with {FALLBACK_PREFIX!r} are reserved")
        known = set(codes)
        for i, s in enumerate(self.sectors):
            if s.join_with is not None and (s.join_with not in known or s.join_with == s.code):
                raise ValueError(f"sectors[{i}].join_with: {s.join_with!r} is not another sector")
        prefixes: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.sector not in known:
                raise ValueError(f"rules[{i}].sector: {r.sector!r} is not a listed sector")
            if r.kbli_prefix in prefixes:
                raise ValueError(f"rules[{i}].kbli_prefix: {r.kbli_prefix} listed twice")
            prefixes.add(r.kbli_prefix)
        return self


class Taxonomy:
    """A compiled taxonomy version."""

    def __init__(self, version: int, data: dict[str, Any]) -> None:
        self.version = version
        self.data = data
        self.sectors: list[SectorDef] = [SectorDef(**s) for s in data["sectors"]]
        self.rules: dict[str, str] = {r["kbli_prefix"]: r["sector"] for r in data["rules"]}
        self._cache: dict[str, str] = {}

    @cached_property
    def names(self) -> dict[str, str]:
        return {s.code: s.name for s in self.sectors}

    def sector_of(self, kbli_code: str) -> str:
        hit = self._cache.get(kbli_code)
        if hit is not None:
            return hit
        code = kbli_code.strip()
        sector = None
        for n in range(min(len(code), 5), 0, -1):
            sector = self.rules.get(code[:n])
            if sector is not None:
                break
        if sector is None:
            sector = FALLBACK_PREFIX + (code[:2] if code[:2].isdigit() else "00")
        self._cache[kbli_code] = sector
        return sector

    def name_of(self, sector: str) -> str:
        if sector in self.names:
            return self.names[sector]
        if sector.startswith(FALLBACK_PREFIX):
            division = sector[len(FALLBACK_PREFIX) :]
            title = kbli().title(division)
            return f"KBLI {division}" + (f": {title}" if title else "")
        return sector

    def join_with(self, sector: str) -> str | None:
        for s in self.sectors:
            if s.code == sector:
                return s.join_with
        return None


_SECTORS: list[tuple[str, str, str | None]] = [
    ("pariwisata", "Pariwisata (tourism)", None),
    ("kuliner", "Kuliner (food and drink)", None),
    ("kerajinan", "Kerajinan (crafts)", None),
    ("fesyen", "Fesyen (fashion)", None),
    ("pertambangan_energi", "Pertambangan & energi terbarukan", None),
    ("mbg", "Pemasok Makan Bergizi Gratis (MBG supply)", "kuliner"),
    ("kesehatan_kecantikan", "Kesehatan & kecantikan", None),
    ("perumahan", "Perumahan rakyat (housing)", None),
    ("otomotif", "Supply chain otomotif", None),
    ("olahraga", "Industri olahraga", None),
    ("kelautan_perikanan", "Kelautan & perikanan", None),
    ("pertanian", "Pertanian (agriculture)", None),
]

# Longest prefix wins: broad divisions first, then the specific kelompok codes.
_RULES: dict[str, str] = {
    "pertanian": "01 02 47241 47812 47813 47814 46319 47754 47763 10722 25931 38212",
    "kelautan_perikanan": "03 102 30111 46206 47815",
    "pertambangan_energi": "05 06 07 08 09 35",
    "kuliner": "10 11 56 47242 47244 47826 47829 47911 47992 10391 10392",
    "fesyen": "14 15 32120 47711 47832 47912 95291",
    "kerajinan": "13122 13134 16291 16293 23932 31001 31002 32201 32903",
    "kesehatan_kecantikan": "20231 20232 21 47723 47724 56305 86 96112 96121",
    "perumahan": "41 43 23921 23922 25112 47528",
    "otomotif": "29 45 30912",
    "olahraga": "32300 93114",
    "mbg": "56290",
    "pariwisata": "55 79 47249 47781 47789 49425 50213 56101 56303 77100 90011 93232 "
    "93233 93292 96122",
}


def default_taxonomy() -> dict[str, Any]:
    """Version 1, seeded by the migration."""
    rules = [
        {"kbli_prefix": prefix, "sector": sector}
        for sector, prefixes in _RULES.items()
        for prefix in prefixes.split()
    ]
    return {
        "sectors": [{"code": c, "name": n, "join_with": j} for c, n, j in _SECTORS],
        "rules": rules,
        "note": "Initial taxonomy: the ministry's named sectors; other KBLI by golongan pokok.",
    }
