"""NIK, NIB, NPWP, KBLI and wilayah identifiers: every rule, its error message, Pydantic use."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from umkm_shared.identifiers import (
    DesaCode,
    IdentifierError,
    KabKotaCode,
    KbliCode,
    KbliKelompok,
    KecamatanCode,
    Nib,
    Nik,
    NikBirthDate,
    Npwp,
    ProvinceCode,
    WilayahCode,
    WilayahParts,
    format_npwp_legacy,
    is_kelompok,
    mask_nik,
    nik_birth_date_parts,
    nik_sex,
    normalize_wilayah_code,
    parse_kbli,
    parse_nib,
    parse_nik,
    parse_npwp,
    parse_wilayah,
    wilayah_level,
    wilayah_parts,
    wilayah_prefix_match,
)
from umkm_shared.reference import wilayah

# A valid NIK: Jawa Barat (32), Kota Bandung (73), kecamatan 01, woman born 01-01-90, serial 0001.
NIK = "3273014101900001"


def _nik(
    province: str = "32",
    kabkota: str = "73",
    kecamatan: str = "01",
    day: str = "01",
    month: str = "01",
    year: str = "90",
    serial: str = "0001",
) -> str:
    return province + kabkota + kecamatan + day + month + year + serial


def _error(func: object, value: object) -> str:
    with pytest.raises(IdentifierError) as caught:
        func(value)  # type: ignore[operator]
    return str(caught.value)


# --- NIK -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        NIK,
        " 3273014101900001 ",
        "3273 0141 0190 0001",
        _nik(kabkota="01"),
        _nik(kabkota="69"),
        _nik(kabkota="71"),
        _nik(kabkota="99"),
        _nik(day="31", month="12"),
        _nik(day="71", month="01"),
        _nik(day="29", month="02"),  # leap-year permissive: YY is ambiguous
        _nik(day="69", month="02"),  # a woman born on 29 February
        _nik(day="30", month="04"),
        _nik(serial="9999"),
        _nik(province="96"),  # Papua Barat Daya, created 2022
    ],
)
def test_nik_valid(value: str) -> None:
    assert parse_nik(value) == "".join(value.split())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "NIK: is empty"),
        ("   ", "NIK: is empty"),
        ("327301410190000", "NIK: must be 16 digits, got 15"),
        ("32730141019000011", "NIK: must be 16 digits, got 17"),
        ("3273.0141.0190.0001", "NIK: '.' is not a digit"),
        ("327301410190000A", "NIK: 'A' is not a digit"),
        ("３２７３０１４１０１９００００１", "NIK: '３' is not a digit"),  # full-width digits
        (_nik(province="99"), "NIK: province code 99 does not exist"),
        (_nik(province="00"), "NIK: province code 00 does not exist"),
        (_nik(province="20"), "NIK: province code 20 does not exist"),
        (
            _nik(kabkota="00"),
            "NIK: kabupaten/kota code 00 is not 01-69 (kabupaten) or 71-99 (kota)",
        ),
        (
            _nik(kabkota="70"),
            "NIK: kabupaten/kota code 70 is not 01-69 (kabupaten) or 71-99 (kota)",
        ),
        (_nik(kecamatan="00"), "NIK: kecamatan code 00 is not valid"),
        (_nik(month="13"), "NIK: birth month 13 is not 01-12"),
        (_nik(month="00"), "NIK: birth month 00 is not 01-12"),
        (_nik(day="00"), "NIK: birth day 00 is not 01-31 (men) or 41-71 (women)"),
        (_nik(day="32"), "NIK: birth day 32 is not 01-31 (men) or 41-71 (women)"),
        (_nik(day="40"), "NIK: birth day 40 is not 01-31 (men) or 41-71 (women)"),
        (_nik(day="72"), "NIK: birth day 72 is not 01-31 (men) or 41-71 (women)"),
        (_nik(day="30", month="02"), "NIK: birth date 30-02 (day-month) is not a calendar date"),
        (_nik(day="71", month="02"), "NIK: birth date 31-02 (day-month) is not a calendar date"),
        (_nik(day="31", month="04"), "NIK: birth date 31-04 (day-month) is not a calendar date"),
        (_nik(day="71", month="11"), "NIK: birth date 31-11 (day-month) is not a calendar date"),
        (_nik(serial="0000"), "NIK: serial 0000 is not valid (serials start at 0001)"),
    ],
)
def test_nik_invalid(value: str, message: str) -> None:
    assert _error(parse_nik, value) == message


def test_nik_must_be_a_string() -> None:
    assert _error(parse_nik, 3273014101900001) == "NIK: expected a string, got int"


def test_nik_birth_date_and_sex() -> None:
    assert nik_birth_date_parts(NIK) == NikBirthDate(day=1, month=1, year2=90)
    assert nik_sex(NIK) == "female"
    man = _nik(day="17", month="08", year="45")
    assert nik_birth_date_parts(man) == NikBirthDate(17, 8, 45)
    assert nik_sex(man) == "male"
    assert nik_birth_date_parts(_nik(day="71", month="12")).day == 31
    assert nik_sex(_nik(day="41")) == "female"
    assert nik_sex(_nik(day="31")) == "male"
    with pytest.raises(IdentifierError, match="birth month 13"):
        nik_sex(_nik(month="13"))


def test_mask_nik() -> None:
    assert mask_nik(NIK) == "3273**********01"
    assert mask_nik("3273 0141 0190 0001") == "3273**********01"
    assert mask_nik("12345") == "*" * 16
    assert mask_nik("327301410190000X") == "*" * 16


_valid_niks = st.builds(
    lambda province, kab, kec, day, female, month, year, serial: (
        f"{province}{kab:02d}{kec:02d}{day + (40 if female else 0):02d}{month:02d}{year:02d}"
        f"{serial:04d}"
    ),
    st.sampled_from([r.code for r in wilayah().all(1)]),
    st.one_of(st.integers(1, 69), st.integers(71, 99)),
    st.integers(1, 99),
    st.integers(1, 28),
    st.booleans(),
    st.integers(1, 12),
    st.integers(0, 99),
    st.integers(1, 9999),
)


@given(_valid_niks)
def test_nik_property_valid_niks_round_trip(nik: str) -> None:
    assert parse_nik(nik) == nik
    masked = mask_nik(nik)
    assert masked[:4] == nik[:4] and masked[-2:] == nik[-2:] and set(masked[4:14]) == {"*"}
    assert nik_sex(nik) == ("female" if int(nik[6:8]) > 40 else "male")


@given(st.text(max_size=20))
def test_nik_property_never_fails_other_than_identifier_error(text: str) -> None:
    try:
        result = parse_nik(text)
    except IdentifierError as error:
        assert str(error).startswith("NIK: ")
    else:
        assert re.fullmatch(r"\d{16}", result)


# --- NIB -----------------------------------------------------------------------------------------


def test_nib() -> None:
    assert parse_nib("1234567890123") == "1234567890123"
    assert parse_nib(" 0234567890123 ") == "0234567890123"
    assert _error(parse_nib, "123456789012") == "NIB: must be 13 digits, got 12"
    assert _error(parse_nib, "12345678901234") == "NIB: must be 13 digits, got 14"
    assert _error(parse_nib, "123456789012X") == "NIB: 'X' is not a digit"
    assert _error(parse_nib, "") == "NIB: is empty"
    assert _error(parse_nib, 1234567890123) == "NIB: expected a string, got int"


# --- NPWP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01.234.567.8-901.000", "0012345678901000"),
        ("012345678901000", "0012345678901000"),
        ("01 234 567 8-901 000", "0012345678901000"),
        ("0012345678901000", "0012345678901000"),
        (NIK, NIK),  # resident individuals use their NIK
    ],
)
def test_npwp_valid(value: str, expected: str) -> None:
    assert parse_npwp(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("01.234.567.8-901.00", "NPWP: must be 16 digits (or 15 in the legacy form), got 14"),
        ("00123456789010001", "NPWP: must be 16 digits (or 15 in the legacy form), got 17"),
        ("0012345678901000000001", "NPWP: 22 digits is a NITKU (branch id), not an NPWP"),
        ("01/234/567/8-901/000", "NPWP: '/' is not a digit"),
        ("", "NPWP: is empty"),
    ],
)
def test_npwp_invalid(value: str, message: str) -> None:
    assert _error(parse_npwp, value) == message


def test_format_npwp_legacy() -> None:
    assert format_npwp_legacy("0012345678901000") == "01.234.567.8-901.000"
    assert format_npwp_legacy("01.234.567.8-901.000") == "01.234.567.8-901.000"
    with pytest.raises(IdentifierError, match="has no legacy form"):
        format_npwp_legacy(NIK)


@given(st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_npwp_property_legacy_round_trip(digits: str) -> None:
    stored = parse_npwp(digits)
    assert stored == "0" + digits
    assert parse_npwp(format_npwp_legacy(stored)) == stored


# --- KBLI ----------------------------------------------------------------------------------------


def test_parse_kbli() -> None:
    code = parse_kbli("10792")
    assert code == KbliCode(version="2020", code="10792")
    assert code.title == "INDUSTRI KUE BASAH" and code.section == "C"
    assert str(code) == "KBLI 2020:10792"
    assert parse_kbli(" 107 ").code == "107"
    assert parse_kbli("c").code == "C"
    assert parse_kbli("10792", kelompok=True).code == "10792"
    assert hash(code) == hash(parse_kbli("10792"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("99999", "KBLI 2020 code 99999 does not exist"),
        ("V", "KBLI 2020 code V does not exist"),  # category V is KBLI 2025 only
        ("1", "KBLI code '1' is malformed: expected a kategori letter or 2 to 5 digits"),
        ("107921", "KBLI code '107921' is malformed: expected a kategori letter or 2 to 5 digits"),
        ("C10", "KBLI code 'C10' is malformed: expected a kategori letter or 2 to 5 digits"),
        ("", "KBLI code '' is malformed: expected a kategori letter or 2 to 5 digits"),
    ],
)
def test_parse_kbli_invalid(value: str, message: str) -> None:
    assert _error(parse_kbli, value) == message


def test_parse_kbli_kelompok_and_version() -> None:
    with pytest.raises(IdentifierError) as caught:
        parse_kbli("107", kelompok=True)
    assert str(caught.value) == (
        "KBLI 2020 code 107 is a golongan, not a 5-digit kelompok (the licensing unit)"
    )
    with pytest.raises(IdentifierError, match="is a golongan pokok, not a 5-digit kelompok"):
        parse_kbli("10", kelompok=True)
    with pytest.raises(IdentifierError, match="KBLI version '2025' is not supported"):
        parse_kbli("10792", version="2025")


def test_is_kelompok() -> None:
    assert is_kelompok("10792") and is_kelompok(parse_kbli("10792"))
    assert not is_kelompok("1079") and not is_kelompok("C") and not is_kelompok("1079A")


# --- wilayah -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("32", "32"),
        ("3273", "32.73"),
        ("32.73", "32.73"),
        ("327301", "32.73.01"),
        ("32.73.01", "32.73.01"),
        ("3273011001", "32.73.01.1001"),
        ("32.73.01.1001", "32.73.01.1001"),
        (" 32.73.01.1001 ", "32.73.01.1001"),
    ],
)
def test_parse_wilayah_with_and_without_dots(value: str, expected: str) -> None:
    assert parse_wilayah(value) == expected
    assert normalize_wilayah_code(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("32.73.99", "wilayah code 32.73.99 does not exist in Kemendagri 2025"),
        ("327399", "wilayah code 32.73.99 does not exist in Kemendagri 2025"),
        ("99", "wilayah code 99 does not exist in Kemendagri 2025"),
        ("32.73.01.9999", "wilayah code 32.73.01.9999 does not exist in Kemendagri 2025"),
        ("32.7", "wilayah code '32.7' is malformed: expected PP, PP.KK, PP.KK.CC or PP.KK.CC.DDDD"),
        (
            "32737",
            "wilayah code '32737' is malformed: expected PP, PP.KK, PP.KK.CC or PP.KK.CC.DDDD",
        ),
        ("32.73011001", "wilayah code '32.73011001' is malformed"),
        ("32-73", "wilayah code '32-73' is malformed"),
        ("32.73.", "wilayah code '32.73.' is malformed"),
        ("", "wilayah code '' is malformed"),
    ],
)
def test_parse_wilayah_invalid(value: str, message: str) -> None:
    assert _error(parse_wilayah, value).startswith(message)


def test_parse_wilayah_level() -> None:
    assert parse_wilayah("3273011001", level=4) == "32.73.01.1001"
    with pytest.raises(IdentifierError) as caught:
        parse_wilayah("3273", level=4)
    assert str(caught.value) == (
        "wilayah code 32.73 is a kabupaten/kota (level 2), expected a desa/kelurahan (level 4)"
    )


def test_wilayah_helpers() -> None:
    assert [wilayah_level(c) for c in ("32", "3273", "32.73.01", "3273011001")] == [1, 2, 3, 4]
    assert wilayah_parts("3273011001") == WilayahParts("32", "32.73", "32.73.01", "32.73.01.1001")
    assert wilayah_parts("32.73") == WilayahParts("32", "32.73", None, None)
    assert wilayah_prefix_match("32.73.01.1001", "32")
    assert wilayah_prefix_match("3273011001", "3273")
    assert wilayah_prefix_match("32.73", "32.73")
    assert not wilayah_prefix_match("32.73", "32.73.01")
    with pytest.raises(IdentifierError, match="malformed"):
        wilayah_prefix_match("32.71.01", "32.7")
    assert not wilayah_prefix_match("33.73", "32")


@given(st.sampled_from([r.code for level in (1, 2, 3) for r in wilayah().all(level)]))
def test_wilayah_property_dotless_round_trip(code: str) -> None:
    assert parse_wilayah(code.replace(".", "")) == code
    assert wilayah_parts(code)[wilayah_level(code) - 1] == code


# --- Pydantic ------------------------------------------------------------------------------------


class Business(BaseModel):
    owner_nik: Nik
    nib: Nib | None = None
    npwp: Npwp | None = None
    kbli: KbliKelompok
    other_kbli: list[KbliCode] = []
    region: WilayahCode | None = None
    province: ProvinceCode | None = None
    kabkota: KabKotaCode | None = None
    kecamatan: KecamatanCode | None = None
    desa: DesaCode


def test_pydantic_types_normalise() -> None:
    business = Business(
        owner_nik=" 3273 0141 0190 0001",
        nib="1234567890123",
        npwp="01.234.567.8-901.000",
        kbli="10792",
        other_kbli=[{"version": "2020", "code": "47111"}, "c"],
        region="3273",
        province="32",
        kabkota="3273",
        kecamatan="327301",
        desa="3273011001",
    )
    assert business.owner_nik == NIK
    assert business.npwp == "0012345678901000"
    assert business.kbli == KbliCode(code="10792")
    assert [k.code for k in business.other_kbli] == ["47111", "C"]
    assert business.desa == "32.73.01.1001"
    dumped = business.model_dump(mode="json")
    assert dumped["kbli"] == {"version": "2020", "code": "10792"}
    assert dumped["region"] == "32.73" and dumped["kecamatan"] == "32.73.01"
    assert Business.model_validate_json(business.model_dump_json()) == business


@pytest.mark.parametrize(
    ("field", "value", "loc", "message"),
    [
        ("owner_nik", _nik(month="13"), ("owner_nik",), "NIK: birth month 13 is not 01-12"),
        ("owner_nik", 3273014101900001, ("owner_nik",), "Input should be a valid string"),
        ("nib", "12", ("nib",), "NIB: must be 13 digits, got 2"),
        ("kbli", "99999", ("kbli", "code"), "KBLI 2020 code 99999 does not exist"),
        ("kbli", "107", ("kbli",), "KBLI 2020 code 107 is a golongan, not a 5-digit kelompok"),
        ("kbli", {"version": "2025", "code": "10792"}, ("kbli", "version"), "Input should be"),
        ("desa", "32.73.99", ("desa",), "wilayah code 32.73.99 is a kecamatan (level 3)"),
        ("desa", "32.73.01.9999", ("desa",), "wilayah code 32.73.01.9999 does not exist"),
        ("province", "3273", ("province",), "wilayah code 32.73 is a kabupaten/kota (level 2)"),
    ],
)
def test_pydantic_errors_carry_the_precise_message(
    field: str, value: object, loc: tuple[str, ...], message: str
) -> None:
    data: dict[str, object] = {"owner_nik": NIK, "kbli": "10792", "desa": "3273011001"}
    data[field] = value
    with pytest.raises(ValidationError) as caught:
        Business.model_validate(data)
    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == loc
    assert message in errors[0]["msg"]


def test_json_schema_is_string_for_identifiers() -> None:
    schema = Business.model_json_schema()
    assert schema["properties"]["owner_nik"]["type"] == "string"
    assert schema["properties"]["desa"]["type"] == "string"
    assert schema["$defs"]["KbliCode"]["properties"]["version"]["const"] == "2020"
