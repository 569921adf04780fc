"""Indonesian identifiers: NIK, NIB, NPWP, KBLI and wilayah codes.

Each identifier has a `parse_*` function returning the canonical string (or `KbliCode`) and raising
`IdentifierError` with a message that says exactly what is wrong, and an `Annotated` type that runs
the same function as a Pydantic v2 validator (JSON type: string; KBLI: an object).
Existence checks use the tables in `umkm_shared.reference` (loaded once, on first use).
"""

from __future__ import annotations

import calendar
import re
from functools import partial
from typing import Annotated, Any, Literal, NamedTuple, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from umkm_shared.reference import KBLI_VERSIONS, LEVEL_NAMES, KbliVersion, kbli, wilayah


class IdentifierError(ValueError):
    """An identifier is malformed or unknown; the message names the identifier and the problem."""


def _text(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise IdentifierError(f"{label}: expected a string, got {type(value).__name__}")
    return value


def _digits(value: object, label: str, *, drop: str = "") -> str:
    """`value` with all whitespace (and the characters in `drop`) removed; digits only."""
    text = "".join(_text(value, label).split())
    for char in drop:
        text = text.replace(char, "")
    if not text:
        raise IdentifierError(f"{label}: is empty")
    for char in text:
        if not "0" <= char <= "9":
            raise IdentifierError(f"{label}: {char!r} is not a digit")
    return text


# --- NIK -----------------------------------------------------------------------------------------


class NikBirthDate(NamedTuple):
    day: int  # real day of month (the +40 for women removed)
    month: int
    year2: int  # two-digit year: the century is not encoded


_LEAP_YEAR = 2000  # any leap year: YY is ambiguous, so 29 February must be accepted


def parse_nik(value: object) -> str:
    """Validate a NIK (16 digits; whitespace ignored) and return it as 16 digits.

    Checks: province code exists; kabupaten 01-69 or kota 71-99; kecamatan not 00; birth month
    01-12; birth day 01-31 (men) or 41-71 (women) forming a real calendar date (29 February is
    allowed); serial not 0000. The kabupaten/kota and kecamatan are not looked up: they are where
    the person first registered and may have been split or renumbered since.
    """
    nik = _digits(value, "NIK")
    if len(nik) != 16:
        raise IdentifierError(f"NIK: must be 16 digits, got {len(nik)}")
    province, kabkota, kecamatan = nik[0:2], nik[2:4], nik[4:6]
    day, month, serial = int(nik[6:8]), int(nik[8:10]), nik[12:16]
    if not wilayah().exists(province):
        raise IdentifierError(f"NIK: province code {province} does not exist")
    if not (1 <= int(kabkota) <= 69 or 71 <= int(kabkota) <= 99):
        raise IdentifierError(
            f"NIK: kabupaten/kota code {kabkota} is not 01-69 (kabupaten) or 71-99 (kota)"
        )
    if kecamatan == "00":
        raise IdentifierError("NIK: kecamatan code 00 is not valid")
    if not 1 <= month <= 12:
        raise IdentifierError(f"NIK: birth month {nik[8:10]} is not 01-12")
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise IdentifierError(f"NIK: birth day {nik[6:8]} is not 01-31 (men) or 41-71 (women)")
    real_day = day - 40 if day > 40 else day
    if real_day > calendar.monthrange(_LEAP_YEAR, month)[1]:
        raise IdentifierError(
            f"NIK: birth date {real_day:02d}-{month:02d} (day-month) is not a calendar date"
        )
    if serial == "0000":
        raise IdentifierError("NIK: serial 0000 is not valid (serials start at 0001)")
    return nik


def nik_birth_date_parts(nik: str) -> NikBirthDate:
    """Birth day, month and two-digit year encoded in a (validated) NIK."""
    nik = parse_nik(nik)
    day = int(nik[6:8])
    return NikBirthDate(day - 40 if day > 40 else day, int(nik[8:10]), int(nik[10:12]))


def nik_sex(nik: str) -> Literal["male", "female"]:
    """Sex encoded in a (validated) NIK: women have 40 added to the birth day."""
    return "female" if int(parse_nik(nik)[6:8]) > 40 else "male"


def mask_nik(nik: str) -> str:
    """NIK for logs and screens: first 4 digits (province + kabupaten/kota) and last 2 kept,
    `3273**********01`. Never raises: anything that is not 16 digits is masked entirely."""
    compact = "".join(str(nik).split())
    if len(compact) != 16 or not compact.isdigit():
        return "*" * 16
    return compact[:4] + "*" * 10 + compact[-2:]


# --- NIB -----------------------------------------------------------------------------------------


def parse_nib(value: object) -> str:
    """Validate a NIB (OSS-RBA business id): exactly 13 digits. Whitespace is ignored.

    Real verification is an OSS lookup; this is the only offline check there is.
    """
    nib = _digits(value, "NIB")
    if len(nib) != 13:
        raise IdentifierError(f"NIB: must be 13 digits, got {len(nib)}")
    return nib


# --- NPWP ----------------------------------------------------------------------------------------


def parse_npwp(value: object) -> str:
    """Validate an NPWP and return the 16-digit form.

    Accepts 16 digits, or the legacy 15 digits with or without punctuation
    (`01.234.567.8-901.000`), which becomes "0" + the 15 digits. Dots, dashes and whitespace are
    ignored. A 22-digit NITKU (branch id) is rejected: it is not an NPWP.
    """
    npwp = _digits(value, "NPWP", drop=".-")
    if len(npwp) == 15:
        return "0" + npwp
    if len(npwp) == 16:
        return npwp
    if len(npwp) == 22:
        raise IdentifierError("NPWP: 22 digits is a NITKU (branch id), not an NPWP")
    raise IdentifierError(f"NPWP: must be 16 digits (or 15 in the legacy form), got {len(npwp)}")


def format_npwp_legacy(value: object) -> str:
    """Legacy display form `XX.XXX.XXX.X-XXX.XXX` of an NPWP that has one ("0" + 15 digits)."""
    npwp = parse_npwp(value)
    if npwp[0] != "0":
        raise IdentifierError(
            "NPWP: a 16-digit NPWP not starting with 0 (an NIK) has no legacy form"
        )
    d = npwp[1:]
    return f"{d[0:2]}.{d[2:5]}.{d[5:8]}.{d[8]}-{d[9:12]}.{d[12:15]}"


# --- KBLI ----------------------------------------------------------------------------------------

_KBLI_SHAPE = re.compile(r"^(?:[A-Z]|\d{2,5})$")


def _check_kbli(version: str, value: object) -> str:
    """The KBLI code in `value` (whitespace removed, kategori letter upper-cased) if it exists."""
    if version not in KBLI_VERSIONS:
        raise IdentifierError(f"KBLI version {version!r} is not supported (known: {KBLI_VERSIONS})")
    code = "".join(_text(value, "KBLI").split()).upper()
    if not _KBLI_SHAPE.fullmatch(code):
        raise IdentifierError(
            f"KBLI code {code!r} is malformed: expected a kategori letter or 2 to 5 digits"
        )
    if not kbli(version).exists(code):
        raise IdentifierError(f"KBLI {version} code {code} does not exist")
    return code


def is_kelompok(code: str | KbliCode) -> bool:
    """True for a 5-digit kelompok, the level OSS licenses by (shape only, no table lookup)."""
    text = code.code if isinstance(code, KbliCode) else code
    return len(text) == 5 and text.isdigit()


class KbliCode(BaseModel):
    """A KBLI code together with its KBLI version; the code exists in that version's table.

    As input, a bare string ("10792") is accepted as shorthand for version 2020.
    """

    model_config = ConfigDict(frozen=True)

    version: KbliVersion = "2020"
    code: str = Field(examples=["10792"])

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"code": data} if isinstance(data, str) else data

    @field_validator("code")
    @classmethod
    def _exists(cls, code: str, info: ValidationInfo) -> str:
        if "version" not in info.data:  # the version itself was invalid; pydantic reports that
            return code
        return _check_kbli(info.data["version"], code)

    def __str__(self) -> str:
        return f"KBLI {self.version}:{self.code}"

    @property
    def title(self) -> str:
        return kbli(self.version).title(self.code) or ""

    @property
    def section(self) -> str:
        return kbli(self.version).section_of(self.code) or ""


def _require_kelompok(value: KbliCode) -> KbliCode:
    if not is_kelompok(value):
        entry = kbli(value.version).get(value.code)
        level = entry.level.replace("_", " ") if entry else "code"
        raise IdentifierError(
            f"KBLI {value.version} code {value.code} is a {level}, "
            "not a 5-digit kelompok (the licensing unit)"
        )
    return value


def parse_kbli(code: object, version: str = "2020", *, kelompok: bool = False) -> KbliCode:
    """Validate a KBLI code of `version`; with `kelompok=True` it must be a 5-digit kelompok."""
    checked = _check_kbli(version, code)
    result = KbliCode.model_construct(version=cast(KbliVersion, version), code=checked)
    return _require_kelompok(result) if kelompok else result


# --- wilayah -------------------------------------------------------------------------------------

_WILAYAH_DOTTED = re.compile(r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?)?$")
_WILAYAH_PLAIN = re.compile(r"^(?:\d{2}|\d{4}|\d{6}|\d{10})$")


class WilayahParts(NamedTuple):
    """Canonical codes of each level of a wilayah code (None below its own level)."""

    province: str
    kabkota: str | None
    kecamatan: str | None
    desa: str | None


def normalize_wilayah_code(value: object) -> str:
    """Canonical dotted form of a wilayah code, checking its shape only (not existence).

    Accepts `32`, `3273` / `32.73`, `327301` / `32.73.01`, `3273011001` / `32.73.01.1001`.
    """
    code = "".join(_text(value, "wilayah code").split())
    if _WILAYAH_DOTTED.fullmatch(code):
        return code
    if _WILAYAH_PLAIN.fullmatch(code):
        return ".".join(part for part in (code[0:2], code[2:4], code[4:6], code[6:10]) if part)
    raise IdentifierError(
        f"wilayah code {code!r} is malformed: expected PP, PP.KK, PP.KK.CC or PP.KK.CC.DDDD "
        "(dots optional)"
    )


def parse_wilayah(value: object, level: int | None = None) -> str:
    """Validate a wilayah code (with or without dots) against the Kemendagri 2025 table and return
    it in canonical dotted form; with `level`, it must be of that level (1 province ... 4 desa)."""
    code = normalize_wilayah_code(value)
    actual = wilayah_level(code)
    if level is not None and actual != level:
        raise IdentifierError(
            f"wilayah code {code} is a {LEVEL_NAMES[actual]} (level {actual}), "
            f"expected a {LEVEL_NAMES[level]} (level {level})"
        )
    if not wilayah().exists(code):
        raise IdentifierError(f"wilayah code {code} does not exist in Kemendagri 2025")
    return code


def wilayah_level(code: str) -> int:
    """Level of a wilayah code: 1 province, 2 kabupaten/kota, 3 kecamatan, 4 desa/kelurahan."""
    return normalize_wilayah_code(code).count(".") + 1


def wilayah_parts(code: str) -> WilayahParts:
    """Split a wilayah code into the canonical codes of its province, kabupaten/kota, ... ."""
    parts = normalize_wilayah_code(code).split(".")
    prefixes = [".".join(parts[:n]) if n <= len(parts) else None for n in range(1, 5)]
    return WilayahParts(parts[0], prefixes[1], prefixes[2], prefixes[3])


def wilayah_prefix_match(code: str, prefix: str) -> bool:
    """True when `code` is the region `prefix` or lies inside it (e.g. for regional scoping)."""
    code, prefix = normalize_wilayah_code(code), normalize_wilayah_code(prefix)
    return code == prefix or code.startswith(prefix + ".")


# --- Pydantic field types ------------------------------------------------------------------------

Nik = Annotated[str, AfterValidator(parse_nik), Field(description="NIK, 16 digits")]
Nib = Annotated[str, AfterValidator(parse_nib), Field(description="NIB (OSS-RBA), 13 digits")]
Npwp = Annotated[
    str,
    AfterValidator(parse_npwp),
    Field(description="NPWP, 16 digits (15-digit legacy form accepted and converted)"),
]
KbliKelompok = Annotated[KbliCode, AfterValidator(_require_kelompok)]
WilayahCode = Annotated[
    str,
    AfterValidator(parse_wilayah),
    Field(description="Kemendagri 2025 wilayah code, dotted (dots optional on input)"),
]
ProvinceCode = Annotated[
    str, AfterValidator(partial(parse_wilayah, level=1)), Field(description="province code, PP")
]
KabKotaCode = Annotated[
    str,
    AfterValidator(partial(parse_wilayah, level=2)),
    Field(description="kabupaten/kota code, PP.KK (dots optional on input)"),
]
KecamatanCode = Annotated[
    str,
    AfterValidator(partial(parse_wilayah, level=3)),
    Field(description="kecamatan code, PP.KK.CC (dots optional on input)"),
]
DesaCode = Annotated[
    str,
    AfterValidator(partial(parse_wilayah, level=4)),
    Field(description="desa/kelurahan code, PP.KK.CC.DDDD (dots optional on input)"),
]
