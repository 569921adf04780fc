"""Koperasi rules with no I/O: the legal-entity number, the kinds of koperasi, seat regions and
membership dates.

Nomor badan hukum (legal-entity number) **(check: format from published examples, not a spec)**:

- Since legalisation moved to the Ministry of Law's AHU system, a koperasi's deed approval
  carries a number such as `AHU-0012423.AH.01.26.TAHUN 2021` (`AH.01.26` is the AHU series for
  koperasi). Accepted with any case, `Tahun`/`TAHUN`, a dot or space before the year, and
  1–7 digits; stored canonically as `AHU-<7 digits>.AH.01.26.TAHUN <year>` so the same number
  typed two ways is one number (the uniqueness check depends on it).
- Older koperasi keep the number the cooperatives ministry or its Dinas issued, e.g.
  `518/BH/XIII/2005` or `12/BH/KDK.12.3/V/1998`: a number, `/BH/`, then segments of letters,
  digits and dots separated by slashes. Stored upper case without spaces around slashes.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from umkm_shared.identifiers import IdentifierError, parse_wilayah, wilayah_level

# UU 25/1992 (art. 16 and its elucidation) names koperasi by the members' shared economic
# activity; "serba usaha" (multi-purpose, KSU) is the common form of KUD and of the village
# koperasi (Koperasi Desa/Kelurahan Merah Putih), which are registered under that type.
KOPERASI_TYPES: dict[str, str] = {
    "konsumen": "Koperasi Konsumen",
    "produsen": "Koperasi Produsen",
    "simpan_pinjam": "Koperasi Simpan Pinjam",
    "pemasaran": "Koperasi Pemasaran",
    "jasa": "Koperasi Jasa",
    "serba_usaha": "Koperasi Serba Usaha",
}

# The first AHU-series koperasi numbers; before that only /BH/ numbers exist. (check)
AHU_FIRST_YEAR = 2014
LEGACY_FIRST_YEAR = 1945

_AHU = re.compile(
    r"^AHU-?\s*(?P<serial>\d{1,7})\s*\.\s*AH\s*\.\s*01\s*\.\s*26"
    r"\s*\.?\s*TAHUN\s*\.?\s*(?P<year>\d{4})$"
)
_LEGACY = re.compile(r"^(?P<serial>\d{1,6}[A-Z]?)/BH/(?P<rest>[A-Z0-9.\-]+(?:/[A-Z0-9.\-]+)*)$")
_LEGACY_YEAR = re.compile(r"(?:^|/)(\d{4})$")


class LegalNumberError(ValueError):
    """A nomor badan hukum that is neither an AHU nor a legacy /BH/ number."""


def parse_legal_number(value: str, *, today: date | None = None) -> str:
    """The canonical form of a koperasi's nomor badan hukum (raises `LegalNumberError`)."""
    if not isinstance(value, str):
        raise LegalNumberError("nomor badan hukum: expected text")
    text = " ".join(value.upper().split())
    this_year = (today or latest_today()).year
    if text.startswith("AHU"):
        m = _AHU.match(text)
        if m is None:
            raise LegalNumberError(
                f"{value!r} is not an AHU koperasi number: expected e.g. "
                "AHU-0012423.AH.01.26.TAHUN 2021"
            )
        serial, year = int(m["serial"]), int(m["year"])
        if serial == 0:
            raise LegalNumberError(f"{value!r}: the AHU serial cannot be 0")
        if not AHU_FIRST_YEAR <= year <= this_year:
            raise LegalNumberError(
                f"{value!r}: year {year} is outside {AHU_FIRST_YEAR}-{this_year} for AHU numbers"
            )
        return f"AHU-{serial:07d}.AH.01.26.TAHUN {year}"
    compact = re.sub(r"\s*/\s*", "/", text)
    m = _LEGACY.match(compact)
    if m is None:
        raise LegalNumberError(
            f"{value!r} is not a nomor badan hukum: expected an AHU number "
            "(AHU-0012423.AH.01.26.TAHUN 2021) or a legacy one (518/BH/XIII/2005)"
        )
    if int(re.sub(r"\D", "", m["serial"]) or "0") == 0:
        raise LegalNumberError(f"{value!r}: the number before /BH/ cannot be 0")
    year_match = _LEGACY_YEAR.search(m["rest"])
    if year_match and not LEGACY_FIRST_YEAR <= int(year_match[1]) <= this_year:
        raise LegalNumberError(f"{value!r}: year {year_match[1]} is not a plausible year")
    return compact


def parse_seat(value: str) -> str:
    """The koperasi's seat: an existing wilayah code of kab/kota level or below (dotted)."""
    code = parse_wilayah(value)
    if wilayah_level(code) < 2:
        raise IdentifierError(
            f"wilayah code {code} is a province: a koperasi's seat is a kabupaten/kota "
            "(or a kecamatan or desa inside one)"
        )
    return code


def seat_parts(code: str) -> tuple[str, str]:
    """(province_code, regency_code) of a seat code of level 2 or deeper."""
    parts = code.split(".")
    return parts[0], ".".join(parts[:2])


# Dates are calendar dates in Indonesia, whatever the server's time zone: "today" for a default
# is the date in WIB (UTC+7, Jakarta); "in the future" means after the date in WIT (UTC+9),
# the latest date anywhere in the country, so an evening entry in Papua is never refused.
WIB = timezone(timedelta(hours=7), "WIB")
WIT = timezone(timedelta(hours=9), "WIT")


def today_wib() -> date:
    return datetime.now(WIB).date()


def latest_today() -> date:
    return datetime.now(WIT).date()


def check_not_future(day: date, what: str, today: date | None = None) -> None:
    today = today or latest_today()
    if day > today:
        raise ValueError(f"{what} {day.isoformat()} is in the future")
    if day.year < LEGACY_FIRST_YEAR:
        raise ValueError(f"{what} {day.isoformat()} is before {LEGACY_FIRST_YEAR}")
