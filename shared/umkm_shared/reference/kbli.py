"""KBLI (Klasifikasi Baku Lapangan Usaha Indonesia) tables, one per version.

KBLI 2020 (Peraturan BPS 2/2020): kategori A-U, golongan pokok (2 digits), golongan (3),
subgolongan (4), kelompok (5 digits, the unit OSS licenses by). KBLI 2025 is not shipped yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Literal, get_args

from umkm_shared.reference._files import read_rows

KbliVersion = Literal["2020"]
KbliLevel = Literal["kategori", "golongan_pokok", "golongan", "subgolongan", "kelompok"]

KBLI_VERSIONS: tuple[str, ...] = get_args(KbliVersion)
KBLI_LEVELS: tuple[KbliLevel, ...] = get_args(KbliLevel)


@dataclass(frozen=True, slots=True)
class KbliEntry:
    code: str
    level: KbliLevel
    section: str  # the kategori letter
    parent_code: str | None
    title: str
    description: str


class KbliTable:
    """One KBLI version. Codes are exact strings: "A", "01", "011", "0111", "01111"."""

    def __init__(self, version: str, entries: dict[str, KbliEntry]) -> None:
        self.version = version
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, code: str) -> KbliEntry | None:
        return self._entries.get(code)

    def exists(self, code: str) -> bool:
        return code in self._entries

    def title(self, code: str) -> str | None:
        entry = self._entries.get(code)
        return entry.title if entry else None

    def section_of(self, code: str) -> str | None:
        entry = self._entries.get(code)
        return entry.section if entry else None

    def ancestors(self, code: str) -> list[KbliEntry]:
        """Ancestors of `code` from the kategori down to its parent ([] for a kategori)."""
        chain: list[KbliEntry] = []
        entry = self._entries.get(code)
        while entry is not None and entry.parent_code is not None:
            entry = self._entries[entry.parent_code]
            chain.append(entry)
        return chain[::-1]

    def children(self, code: str) -> list[KbliEntry]:
        return self._children.get(code, [])

    def all(self, level: KbliLevel) -> list[KbliEntry]:
        return [e for e in self._entries.values() if e.level == level]

    @cached_property
    def _children(self) -> dict[str, list[KbliEntry]]:
        children: dict[str, list[KbliEntry]] = {}
        for entry in self._entries.values():
            if entry.parent_code is not None:
                children.setdefault(entry.parent_code, []).append(entry)
        return children


def kbli(version: str = "2020") -> KbliTable:
    """The KBLI table of `version`, loaded once on first use."""
    if version not in KBLI_VERSIONS:
        raise ValueError(f"KBLI version {version!r} is not available (known: {KBLI_VERSIONS})")
    return _load(version)


@cache  # keyed by the positional version only, so kbli() and kbli("2020") share one table
def _load(version: str) -> KbliTable:
    entries = {
        code: KbliEntry(code, level, section, parent or None, title, description)  # type: ignore[arg-type]
        for code, level, section, parent, title, description in read_rows(f"kbli_{version}.csv")
    }
    return KbliTable(version, entries)
