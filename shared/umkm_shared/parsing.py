"""Parsing Indonesian-format values from forms and import files: Rupiah, dates, person names.

Decisions (documented here because import files depend on them):
- Money is an int number of Rupiah. A fraction of a Rupiah ("1.500,50") is rejected, not rounded:
  sen do not circulate, so a fraction is a data error the sender must see. ",00" and ",-" are fine.
- Separators: with both "." and ",", the last one is the decimal separator ("1.500.000,00",
  "1,500,000.00"). With only one kind: repeated means thousands ("1.500.000", "1,500,000"); a
  single "," is decimal (Indonesian: "1,5 juta") but is rejected as ambiguous when exactly 3
  digits follow ("1,500": 1.5 or 1500?); a single "." is thousands when exactly 3 digits follow
  ("1.500") and decimal otherwise ("1.5 juta", "1500.00").
- Units: rb/ribu/k 10^3, jt/juta 10^6, m/miliar/milyar 10^9 ("M" is miliar in Indonesian, not
  million), t/triliun/trilyun 10^12.
- Dates: DD/MM/YYYY, DD-MM-YYYY, DD.MM.YYYY (day first), ISO YYYY-MM-DD, and "27 November 2026"
  with Indonesian or English month names and common abbreviations ("Agt", "Nop", "Des"), an
  optional leading weekday ("Jumat, 27 November 2026"). Two-digit years are rejected.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal


class ParseError(ValueError):
    """A value could not be parsed; the message says what is wrong with it."""


# --- Rupiah --------------------------------------------------------------------------------------

_UNITS: dict[str, int] = {
    "rb": 10**3,
    "ribu": 10**3,
    "k": 10**3,
    "jt": 10**6,
    "juta": 10**6,
    "m": 10**9,
    "miliar": 10**9,
    "milyar": 10**9,
    "t": 10**12,
    "triliun": 10**12,
    "trilyun": 10**12,
}
_CURRENCY = re.compile(r"^(?:rp\.?|idr)\s*")
_AMOUNT = re.compile(r"^(?P<number>\d[\d.,]*)\s*(?P<unit>[a-z]+)?$")


def _grouped(digits: str, separator: str, original: str) -> str:
    """`digits` with thousands separators removed, checking the groups are 1-3 then 3 digits."""
    groups = digits.split(separator)
    if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
        raise ParseError(f"amount {original!r}: malformed thousands grouping {digits!r}")
    return "".join(groups)


def _split_number(number: str, original: str) -> tuple[str, str | None]:
    """(integer digits, fraction digits or None) of a number, by the separator rules above."""
    last_dot, last_comma = number.rfind("."), number.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_sep = "." if last_dot > last_comma else ","
        thousands_sep = "," if decimal_sep == "." else "."
        whole, _, fraction = number.rpartition(decimal_sep)
        if decimal_sep in whole:
            raise ParseError(f"amount {original!r}: more than one decimal separator")
        return _grouped(whole, thousands_sep, original), fraction
    if last_dot < 0 and last_comma < 0:
        return number, None
    sep = "." if last_dot >= 0 else ","
    parts = number.split(sep)
    if len(parts) > 2 or (sep == "." and len(parts[1]) == 3):
        return _grouped(number, sep, original), None
    if len(parts[1]) == 3:  # "1,000": 1 in Indonesian format, 1000 in English
        raise ParseError(
            f"amount {original!r} is ambiguous: ',' is the decimal separator in Indonesian format "
            f"but 3 digits follow it; for thousands write {parts[0]}.{parts[1]}"
        )
    return parts[0], parts[1]


def parse_rupiah(value: str | int | float) -> int:
    """Parse an amount of Rupiah ("Rp 1.500.000,00", "Rp1.500.000,-", "1,5 juta", 1500000).

    Returns whole Rupiah; raises ParseError for negative amounts, fractions of a Rupiah,
    malformed numbers and unknown units (rules in the module docstring).
    """
    if isinstance(value, bool):
        raise ParseError("amount: expected a number or text, got bool")
    if isinstance(value, int | float):
        if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
            raise ParseError(f"amount {value!r} is not a number")
        if value < 0:
            raise ParseError(f"amount {value!r} must not be negative")
        if value != int(value):
            raise ParseError(
                f"amount {value!r} has a fraction of a Rupiah; amounts are whole Rupiah"
            )
        return int(value)
    if not isinstance(value, str):
        raise ParseError(f"amount: expected a number or text, got {type(value).__name__}")
    original = value
    text = " ".join(value.split()).casefold()
    if not text:
        raise ParseError("amount is empty")
    body = _CURRENCY.sub("", text)
    if text.startswith(("-", "(")) or body.startswith(("-", "(")):  # "-Rp 5", "Rp -5", "(Rp 5)"
        raise ParseError(f"amount {original!r} must not be negative")
    text = body
    text = text.removesuffix(",-").removesuffix(".-")  # "Rp 1.500.000,-": no sen
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise ParseError(f"amount {original!r} is not a number of Rupiah")
    unit = match["unit"]
    if unit is not None and unit not in _UNITS:
        raise ParseError(f"amount {original!r}: unknown unit {unit!r} (known: {', '.join(_UNITS)})")
    whole, fraction = _split_number(match["number"], original)
    if fraction == "":
        raise ParseError(f"amount {original!r}: no digits after the decimal separator")
    if unit is None:
        if fraction and fraction.strip("0"):
            raise ParseError(
                f"amount {original!r} has a fraction of a Rupiah (,{fraction}); "
                "amounts are whole Rupiah"
            )
        return int(whole)
    amount = Decimal(f"{whole}.{fraction or '0'}") * _UNITS[unit]
    if amount != amount.to_integral_value():
        raise ParseError(f"amount {original!r} is not a whole number of Rupiah")
    return int(amount)


def format_rupiah(amount: int) -> str:
    """Indonesian display form: 1500000 -> "Rp 1.500.000"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")


# --- dates ---------------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "januari jan january",
        "februari pebruari feb peb february",
        "maret mar march",
        "april apr",
        "mei may",
        "juni jun june",
        "juli jul july",
        "agustus agu agt ags aug august",
        "september sep sept",
        "oktober okt oct october",
        "november nopember nov nop",
        "desember des dec december",
    ),
    start=1,
):
    _MONTHS.update(dict.fromkeys(_names.split(), _number))

_WEEKDAY = re.compile(
    r"^(?:senin|selasa|rabu|kamis|jumat|jum'at|sabtu|minggu|ahad|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday),?\s+"
)
_DAY_FIRST = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d+)$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TEXTUAL = re.compile(r"^(\d{1,2})[\s.-]+([a-z]+)\.?[\s.-]+(\d+)$")
DATE_FORMATS = "DD/MM/YYYY, DD-MM-YYYY, DD.MM.YYYY, YYYY-MM-DD or '27 November 2026'"


def _make_date(year: str, month: int, day: int, original: str) -> date:
    if len(year) != 4:
        raise ParseError(f"date {original!r}: the year must have 4 digits")
    if not 1 <= month <= 12:
        raise ParseError(f"date {original!r}: month {month:02d} is not 01-12")
    year_number = int(year)
    if year_number < 1:
        raise ParseError(f"date {original!r}: year {year} is out of range")
    last = calendar.monthrange(year_number, month)[1]
    if not 1 <= day <= last:
        raise ParseError(
            f"date {original!r}: day {day:02d} does not exist in "
            f"{calendar.month_name[month]} {year_number} (1-{last})"
        )
    return date(year_number, month, day)


def parse_indonesian_date(value: str | date) -> date:
    """Parse a date written the Indonesian way (formats in the module docstring)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ParseError(f"date: expected text, got {type(value).__name__}")
    original = value
    text = _WEEKDAY.sub("", " ".join(value.split()).casefold())
    if not text:
        raise ParseError("date is empty")
    if match := _ISO.fullmatch(text):
        return _make_date(match[1], int(match[2]), int(match[3]), original)
    if match := _DAY_FIRST.fullmatch(text):
        return _make_date(match[4], int(match[3]), int(match[1]), original)
    if match := _TEXTUAL.fullmatch(text):
        month = _MONTHS.get(match[2])
        if month is None:
            raise ParseError(f"date {original!r}: unknown month name {match[2]!r}")
        return _make_date(match[3], month, int(match[1]), original)
    raise ParseError(f"date {original!r} is not in a known format ({DATE_FORMATS})")


# --- names ---------------------------------------------------------------------------------------

# Words kept in a fixed form when re-casing (business forms, cooperatives, legal suffixes).
_FIXED_WORDS = {
    word.casefold(): word
    for word in (
        "CV PT UD PD KUD KSP KSU KSPPS KOPTAN BUMN BUMD BUMDes UMKM UKM Tbk Persero Perum".split()
    )
}
_ROMAN = re.compile(r"^(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3})$")
_WORD_START = re.compile(r"(^|[-(/.])([a-z])")


def _recase(token: str, first: bool) -> str:
    core = token.strip(".,()")
    fixed = _FIXED_WORDS.get(core.casefold())
    if fixed is not None:
        return token.replace(core, fixed)
    lower = token.casefold()
    if not first and _ROMAN.fullmatch(lower.strip(".,")):  # "Hamengkubuwono X", "Pakam II"
        return token.upper()
    return _WORD_START.sub(lambda m: m[1] + m[2].upper(), lower)


def normalize_name(value: str) -> str:
    """Tidy a person or business name: Unicode NFC, whitespace collapsed and, when the name is
    typed all in capitals (or all in lower case), re-cased word by word: "BUDI SANTOSO" ->
    "Budi Santoso", "CV MAJU JAYA" -> "CV Maju Jaya", "H.ABDUL S.KOM" -> "H.Abdul S.Kom".
    Mixed-case input is kept as typed ("McDonald", "BUMDes"): it was cased on purpose.
    """
    if not isinstance(value, str):
        raise ParseError(f"name: expected text, got {type(value).__name__}")
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if not text:
        raise ParseError("name is empty")
    if text.isupper() or text.islower():
        text = " ".join(_recase(token, i == 0) for i, token in enumerate(text.split(" ")))
    return text
