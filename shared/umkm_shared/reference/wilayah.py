"""Kemendagri 2025 administrative regions (Kepmendagri 300.2.2-2138/2025).

Codes are in canonical dotted form `PP.KK.CC.DDDD`; use `umkm_shared.identifiers.parse_wilayah`
to turn user input (with or without dots) into that form.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Literal

from umkm_shared.reference._files import read_rows

RegionKind = Literal["provinsi", "kabupaten", "kota", "kecamatan", "desa", "kelurahan"]

LEVEL_NAMES: dict[int, str] = {
    1: "provinsi",
    2: "kabupaten/kota",
    3: "kecamatan",
    4: "desa/kelurahan",
}


def code_level(code: str) -> int:
    """Level (1..4) of a canonical dotted code."""
    return code.count(".") + 1


def code_parent(code: str) -> str | None:
    """Parent of a canonical dotted code (None for a province)."""
    head, dot, _ = code.rpartition(".")
    return head if dot else None


def code_kind(code: str) -> RegionKind:
    """Kind of region, from the code alone (kabupaten 01-69, kota 71-99; kelurahan start with 1)."""
    level = code_level(code)
    if level == 1:
        return "provinsi"
    if level == 2:
        return "kota" if int(code[3:5]) >= 70 else "kabupaten"
    if level == 3:
        return "kecamatan"
    return "kelurahan" if code[9] == "1" else "desa"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: int
    parent_code: str | None

    @property
    def kind(self) -> RegionKind:
        return code_kind(self.code)


# --- name matching -----------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['’‘`´]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


_ABBREVIATIONS = {"kep": "kepulauan"}  # "Kab. Kep. Siau Tagulandang Biaro"


def fold_name(text: str) -> str:
    """Case-, diacritic-, punctuation- and whitespace-insensitive form of a place name."""
    decomposed = unicodedata.normalize("NFKD", text)
    no_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    no_apostrophes = _APOSTROPHES.sub("", no_marks.casefold())
    words = _NON_ALNUM.sub(" ", no_apostrophes).split()
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words)


# Leading words that name the kind of region, not the region itself (folded form).
_PROVINSI: frozenset[RegionKind] = frozenset({"provinsi"})
_KABUPATEN: frozenset[RegionKind] = frozenset({"kabupaten"})
_KOTA: frozenset[RegionKind] = frozenset({"kota"})
_KECAMATAN: frozenset[RegionKind] = frozenset({"kecamatan"})
# People say "desa" for a kelurahan and the reverse: both mean level 4 here.
_DESA_KELURAHAN: frozenset[RegionKind] = frozenset({"desa", "kelurahan"})
_HINT_WORDS: dict[str, frozenset[RegionKind]] = {
    "provinsi": _PROVINSI,
    "propinsi": _PROVINSI,
    "prov": _PROVINSI,
    "kabupaten administrasi": _KABUPATEN,
    "kabupaten adm": _KABUPATEN,
    "kab administrasi": _KABUPATEN,
    "kab adm": _KABUPATEN,
    "kabupaten": _KABUPATEN,
    "kab": _KABUPATEN,
    "kota administrasi": _KOTA,
    "kota adm": _KOTA,
    "kotamadya": _KOTA,
    "kodya": _KOTA,
    "kota": _KOTA,
    "kecamatan": _KECAMATAN,
    "kec": _KECAMATAN,
    "distrik": _KECAMATAN,
    "desa": _DESA_KELURAHAN,
    "ds": _DESA_KELURAHAN,
    "kelurahan": _DESA_KELURAHAN,
    "kel": _DESA_KELURAHAN,
}
_HINTS = sorted(
    ((word + " ", kinds) for word, kinds in _HINT_WORDS.items()), key=lambda h: -len(h[0])
)

# Level-2 names in the table carry their kind ("Kabupaten Bandung"); the key drops it.
_LEVEL2_PREFIXES = ("kabupaten administrasi ", "kota administrasi ", "kabupaten ", "kota ")

_PROVINCE_ALIASES: dict[str, tuple[str, ...]] = {
    "31": ("dki jakarta", "jakarta", "dki"),
    "34": ("di yogyakarta", "diy", "yogyakarta", "jogjakarta", "jogja"),
    "19": ("bangka belitung", "babel"),
}


def _split_hint(folded: str) -> tuple[frozenset[RegionKind] | None, str]:
    for prefix, kinds in _HINTS:
        if folded.startswith(prefix):
            return kinds, folded[len(prefix) :]
    return None, folded


def _keys(code: str, name: str) -> list[str]:
    folded = fold_name(name)
    keys = [folded]
    level = code_level(code)
    if level == 2:
        for prefix in _LEVEL2_PREFIXES:
            if folded.startswith(prefix):
                keys = [folded[len(prefix) :]]
                break
    elif level == 1:
        keys.extend(_PROVINCE_ALIASES.get(code, ()))
    elif folded.startswith("desa adat "):  # Papua: "Desa Adat Yoboi" is also called "Yoboi"
        keys.append(folded.removeprefix("desa adat "))
    return keys


# --- the table ---------------------------------------------------------------------------------


class WilayahTable:
    """All 91,599 regions. Lookups take canonical dotted codes."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names

    def __len__(self) -> int:
        return len(self._names)

    def get(self, code: str) -> Region | None:
        name = self._names.get(code)
        if name is None:
            return None
        return Region(code, name, code_level(code), code_parent(code))

    def exists(self, code: str) -> bool:
        return code in self._names

    def name_of(self, code: str) -> str | None:
        return self._names.get(code)

    def province_of(self, code: str) -> Region | None:
        """The province containing `code` (the region itself for a province)."""
        return self.get(code[:2]) if code in self._names else None

    def children(self, code: str) -> list[Region]:
        return [self._region(c) for c in self._children.get(code, ())]

    def all(self, level: int) -> list[Region]:
        return [self._region(c) for c in self._names if code_level(c) == level]

    def search_by_name(
        self, name: str, level: int | None = None, within: str | None = None
    ) -> list[Region]:
        """Every region whose name matches `name`, sorted by code: more than one means ambiguous.

        Matching ignores case, diacritics, punctuation and spacing. A leading kind word ("Kab.",
        "Kota", "Kec.", "Desa", "Kel.", "Provinsi", ...) is both accepted and used: "Kota Bandung"
        matches only the kota, "Bandung" matches the kabupaten, the kota and any kecamatan or desa
        named Bandung. Names that start with such a word ("Kota Baru" kecamatan) still match
        literally. `within` (a canonical code) keeps only regions strictly inside it.
        """
        folded = fold_name(name)
        if not folded:
            return []
        found = set(self._index.get(folded, ()))
        kinds, core = _split_hint(folded)
        if kinds is not None and core:
            found.update(c for c in self._index.get(core, ()) if code_kind(c) in kinds)
        if level is not None:
            found = {c for c in found if code_level(c) == level}
        if within is not None:
            found = {c for c in found if c.startswith(within + ".")}
        return [self._region(c) for c in sorted(found)]

    def _region(self, code: str) -> Region:
        return Region(code, self._names[code], code_level(code), code_parent(code))

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = defaultdict(list)
        for code in self._names:
            parent = code_parent(code)
            if parent is not None:
                children[parent].append(code)
        return dict(children)

    @cached_property
    def _index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for code, name in self._names.items():
            for key in _keys(code, name):
                index[key].append(code)
        return dict(index)


@cache
def wilayah() -> WilayahTable:
    """The Kemendagri 2025 table, loaded once on first use."""
    return WilayahTable({code: name for code, name, _level in read_rows("wilayah_2025.csv")})
