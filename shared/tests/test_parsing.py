"""Indonesian-format Rupiah amounts, dates and names."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umkm_shared.parsing import (
    ParseError,
    format_rupiah,
    normalize_name,
    parse_indonesian_date,
    parse_rupiah,
)

# --- Rupiah --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rp 1.500.000,00", 1_500_000),
        ("Rp1.500.000", 1_500_000),
        ("Rp. 1.500.000", 1_500_000),
        ("rp 1.500.000", 1_500_000),
        ("IDR 1.500.000", 1_500_000),
        ("Rp 1.500.000,-", 1_500_000),
        ("Rp 1.500.000.-", 1_500_000),
        ("1.500.000", 1_500_000),
        ("1500000", 1_500_000),
        ("  1500000  ", 1_500_000),
        ("0", 0),
        ("1.500", 1_500),  # a single "." followed by 3 digits is a thousands separator
        ("1,500,000", 1_500_000),  # several "," are thousands separators (English style)
        ("1,500,000.00", 1_500_000),
        ("1.500.000,0", 1_500_000),
        ("1500000.00", 1_500_000),  # a single "." followed by 1-2 digits is decimal
        ("1,5 juta", 1_500_000),
        ("1,5 jt", 1_500_000),
        ("1,5jt", 1_500_000),
        ("1.5 juta", 1_500_000),
        ("Rp 1,5 Juta", 1_500_000),
        ("2 JT", 2_000_000),
        ("500 rb", 500_000),
        ("500 ribu", 500_000),
        ("750k", 750_000),
        ("Rp 2,5 M", 2_500_000_000),  # M is miliar
        ("2,5 miliar", 2_500_000_000),
        ("3 milyar", 3_000_000_000),
        ("1.500 juta", 1_500_000_000),
        ("1 T", 1_000_000_000_000),
        ("1,25 triliun", 1_250_000_000_000),
        ("0,000001 miliar", 1_000),
    ],
)
def test_parse_rupiah(text: str, expected: int) -> None:
    assert parse_rupiah(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "1,500",
            "amount '1,500' is ambiguous: ',' is the decimal separator in Indonesian format but "
            "3 digits follow it; for thousands write 1.500",
        ),
        ("1,000", "amount '1,000' is ambiguous"),
        ("1,500 juta", "amount '1,500 juta' is ambiguous"),
        (
            "Rp 1.500,50",
            "amount 'Rp 1.500,50' has a fraction of a Rupiah (,50); amounts are whole Rupiah",
        ),
        ("1500000.5", "amount '1500000.5' has a fraction of a Rupiah (,5)"),
        ("-Rp 5.000", "amount '-Rp 5.000' must not be negative"),
        ("Rp -5.000", "amount 'Rp -5.000' must not be negative"),
        ("(Rp 5.000)", "amount '(Rp 5.000)' must not be negative"),
        ("-5000", "amount '-5000' must not be negative"),
        ("1.50.000", "amount '1.50.000': malformed thousands grouping '1.50.000'"),
        ("1.5000.000", "amount '1.5000.000': malformed thousands grouping"),
        ("1234.567.890", "amount '1234.567.890': malformed thousands grouping"),
        ("1.500,00,00", "amount '1.500,00,00': more than one decimal separator"),
        ("1.500,", "amount '1.500,': no digits after the decimal separator"),
        ("1,2345678 juta", "amount '1,2345678 juta' is not a whole number of Rupiah"),
        ("5 kg", "amount '5 kg': unknown unit 'kg'"),
        ("Rp", "amount 'Rp' is not a number of Rupiah"),
        ("abc", "amount 'abc' is not a number of Rupiah"),
        ("1 500 000", "amount '1 500 000' is not a number of Rupiah"),
        ("", "amount is empty"),
        ("   ", "amount is empty"),
        (-1, "amount -1 must not be negative"),
        (1.5, "amount 1.5 has a fraction of a Rupiah"),
        (float("nan"), "amount nan is not a number"),
        (True, "amount: expected a number or text, got bool"),
        (None, "amount: expected a number or text, got NoneType"),
    ],
)
def test_parse_rupiah_errors(value: object, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_rupiah(value)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_parse_rupiah_numbers() -> None:
    assert parse_rupiah(1_500_000) == 1_500_000
    assert parse_rupiah(0) == 0
    assert parse_rupiah(2_500_000.0) == 2_500_000  # spreadsheet cells arrive as floats


def test_format_rupiah() -> None:
    assert format_rupiah(1_500_000) == "Rp 1.500.000"
    assert format_rupiah(0) == "Rp 0"
    assert format_rupiah(999) == "Rp 999"
    assert format_rupiah(-5_000) == "-Rp 5.000"


@given(st.integers(min_value=0, max_value=10**15))
def test_rupiah_property_format_round_trip(amount: int) -> None:
    formatted = format_rupiah(amount)
    assert parse_rupiah(formatted) == amount
    assert parse_rupiah(formatted + ",00") == amount
    assert parse_rupiah(str(amount)) == amount
    english = f"{amount:,}"
    if english.count(",") == 1:  # "1,500": 1.5 in Indonesian format, 1500 in English
        with pytest.raises(ParseError, match="is ambiguous"):
            parse_rupiah(english)
    else:
        assert parse_rupiah(english) == amount


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("27/11/2026", date(2026, 11, 27)),
        ("27-11-2026", date(2026, 11, 27)),
        ("27.11.2026", date(2026, 11, 27)),
        ("1/2/2026", date(2026, 2, 1)),
        ("01/02/2026", date(2026, 2, 1)),  # day first, never month first
        ("2026-11-27", date(2026, 11, 27)),
        ("2026-1-5", date(2026, 1, 5)),
        ("27 November 2026", date(2026, 11, 27)),
        ("27 NOVEMBER 2026", date(2026, 11, 27)),
        ("27 Nov 2026", date(2026, 11, 27)),
        ("27 Nop 2026", date(2026, 11, 27)),
        ("27 Nopember 2026", date(2026, 11, 27)),
        ("27 Agustus 2020", date(2020, 8, 27)),
        ("27 Agt 2020", date(2020, 8, 27)),
        ("27 Agu 2020", date(2020, 8, 27)),
        ("27-Agt-2020", date(2020, 8, 27)),
        ("1 Des. 2020", date(2020, 12, 1)),
        ("17 Mei 1945", date(1945, 5, 17)),
        ("5 Pebruari 2001", date(2001, 2, 5)),
        ("9 Okt 2019", date(2019, 10, 9)),
        ("9 October 2019", date(2019, 10, 9)),
        ("Jumat, 27 November 2026", date(2026, 11, 27)),
        ("Jum'at 27 November 2026", date(2026, 11, 27)),
        ("  29/02/2024 ", date(2024, 2, 29)),
    ],
)
def test_parse_indonesian_date(text: str, expected: date) -> None:
    assert parse_indonesian_date(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31/02/2024", "date '31/02/2024': day 31 does not exist in February 2024 (1-29)"),
        ("29/02/2023", "date '29/02/2023': day 29 does not exist in February 2023 (1-28)"),
        ("31 April 2024", "date '31 April 2024': day 31 does not exist in April 2024 (1-30)"),
        ("00/01/2024", "date '00/01/2024': day 00 does not exist in January 2024 (1-31)"),
        ("2024-02-30", "date '2024-02-30': day 30 does not exist in February 2024 (1-29)"),
        ("27/13/2026", "date '27/13/2026': month 13 is not 01-12"),
        ("27/00/2026", "date '27/00/2026': month 00 is not 01-12"),
        ("2026-13-01", "date '2026-13-01': month 13 is not 01-12"),
        ("27/11/26", "date '27/11/26': the year must have 4 digits"),
        ("27 Nov 26", "date '27 Nov 26': the year must have 4 digits"),
        ("01/01/0000", "date '01/01/0000': year 0000 is out of range"),
        ("27 Foo 2026", "date '27 Foo 2026': unknown month name 'foo'"),
        ("27/11-2026", "date '27/11-2026' is not in a known format"),
        ("2026/11/27", "date '2026/11/27' is not in a known format"),
        ("November 27, 2026", "date 'November 27, 2026' is not in a known format"),
        ("", "date is empty"),
    ],
)
def test_parse_indonesian_date_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_indonesian_date(text)
    assert str(caught.value).startswith(message)


def test_parse_indonesian_date_passes_dates_through() -> None:
    assert parse_indonesian_date(date(2026, 11, 27)) == date(2026, 11, 27)
    assert parse_indonesian_date(datetime(2026, 11, 27, 10, 30)) == date(2026, 11, 27)
    with pytest.raises(ParseError, match="expected text, got int"):
        parse_indonesian_date(20261127)  # type: ignore[arg-type]


@given(st.dates(min_value=date(1000, 1, 1)))
def test_date_property_all_numeric_forms_agree(day: date) -> None:
    for sep in "/-.":
        assert parse_indonesian_date(day.strftime(f"%d{sep}%m{sep}%Y")) == day
    assert parse_indonesian_date(day.isoformat()) == day


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BUDI SANTOSO", "Budi Santoso"),
        ("  BUDI   SANTOSO\t", "Budi Santoso"),
        ("budi santoso", "Budi Santoso"),
        ("CV MAJU JAYA", "CV Maju Jaya"),
        ("PT. SUMBER MAKMUR TBK", "PT. Sumber Makmur Tbk"),
        ("UD SRI REJEKI", "UD Sri Rejeki"),
        ("KOPERASI UNIT DESA (KUD) SUMBER REJEKI", "Koperasi Unit Desa (KUD) Sumber Rejeki"),
        ("PT PERTAMINA (PERSERO)", "PT Pertamina (Persero)"),
        ("BUMDES MAJU BERSAMA", "BUMDes Maju Bersama"),
        ("H.ABDUL RAHMAN S.KOM", "H.Abdul Rahman S.Kom"),
        ("DR. IR. SITI AMINAH, M.SI.", "Dr. Ir. Siti Aminah, M.Si."),
        ("SITI NUR'AINI", "Siti Nur'aini"),
        ("ANAK AGUNG GEDE NGURAH-PUTRA", "Anak Agung Gede Ngurah-Putra"),
        ("SRI SULTAN HAMENGKUBUWONO X", "Sri Sultan Hamengkubuwono X"),
        ("TOKO LUBUK PAKAM II", "Toko Lubuk Pakam II"),
        ("XI JINPING", "Xi Jinping"),  # a first word is never a roman numeral
        ("Budi McDonald", "Budi McDonald"),  # mixed case was cased on purpose: kept
        ("CV Maju jaya", "CV Maju jaya"),
        ("Nasi\u00a0Goreng  Bu\u2003Tini", "Nasi Goreng Bu Tini"),
        ("JOSÉ", "José"),
        ("Jose\u0301", "José"),  # NFC
    ],
)
def test_normalize_name(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


def test_normalize_name_errors() -> None:
    with pytest.raises(ParseError, match="name is empty"):
        normalize_name("   ")
    with pytest.raises(ParseError, match="expected text, got int"):
        normalize_name(5)  # type: ignore[arg-type]


@given(st.text())
def test_name_property_idempotent(text: str) -> None:
    try:
        once = normalize_name(text)
    except ParseError:
        assert not text.split()
        return
    assert normalize_name(once) == once
    assert "  " not in once and once == once.strip()
