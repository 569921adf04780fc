"""Koperasi rules without I/O: nomor badan hukum, seat codes, dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from umkm_registry.koperasi.domain import (
    LegalNumberError,
    check_not_future,
    latest_today,
    parse_legal_number,
    parse_seat,
    seat_parts,
)
from umkm_shared.identifiers import IdentifierError

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("AHU-0012423.AH.01.26.TAHUN 2021", "AHU-0012423.AH.01.26.TAHUN 2021"),
        ("ahu-0012423.ah.01.26.tahun 2021", "AHU-0012423.AH.01.26.TAHUN 2021"),
        ("AHU-0012423.AH.01.26 Tahun 2021", "AHU-0012423.AH.01.26.TAHUN 2021"),
        ("AHU-0012423.AH.01.26.TAHUN.2021", "AHU-0012423.AH.01.26.TAHUN 2021"),
        ("  AHU-000032.AH.01.26.TAHUN   2019 ", "AHU-0000032.AH.01.26.TAHUN 2019"),  # padded
        ("518/BH/XIII/2005", "518/BH/XIII/2005"),
        ("12 / bh / KDK.12.3/V/1998", "12/BH/KDK.12.3/V/1998"),
        ("503/BH/PAD/KWK.10/X/1996", "503/BH/PAD/KWK.10/X/1996"),
    ],
)
def test_legal_numbers_are_canonicalised(raw: str, canonical: str) -> None:
    assert parse_legal_number(raw, today=TODAY) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("AHU-0012423.AH.01.01.TAHUN 2021", "not an AHU koperasi number"),  # a PT's series
        ("AHU-12345678.AH.01.26.TAHUN 2021", "not an AHU koperasi number"),
        ("AHU-0012423.AH.01.26", "not an AHU koperasi number"),  # no year
        ("AHU-0000000.AH.01.26.TAHUN 2021", "cannot be 0"),
        ("AHU-0012423.AH.01.26.TAHUN 2027", "outside 2014-2026"),
        ("AHU-0012423.AH.01.26.TAHUN 2010", "outside 2014-2026"),
        ("12345", "not a nomor badan hukum"),
        ("KSP MAJU JAYA", "not a nomor badan hukum"),
        ("0/BH/XII/1990", "cannot be 0"),
        ("12/BH/X/1899", "not a plausible year"),
        ("12/BH/", "not a nomor badan hukum"),
    ],
)
def test_bad_legal_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(LegalNumberError, match=reason):
        parse_legal_number(raw, today=TODAY)


def test_seat_is_kab_kota_or_deeper_and_must_exist() -> None:
    assert parse_seat("3273") == "32.73"
    assert parse_seat("32.73.07") == "32.73.07"
    assert parse_seat("32.73.07.1002") == "32.73.07.1002"
    assert seat_parts("32.73.07.1002") == ("32", "32.73")
    with pytest.raises(IdentifierError, match="province"):
        parse_seat("32")
    with pytest.raises(IdentifierError, match="does not exist"):
        parse_seat("32.73.99")


def test_dates_may_not_be_in_the_future() -> None:
    check_not_future(latest_today(), "joined_on")
    with pytest.raises(ValueError, match="future"):
        check_not_future(latest_today() + timedelta(days=1), "joined_on")
    with pytest.raises(ValueError, match="before 1945"):
        check_not_future(date(1900, 1, 1), "joined_on")
