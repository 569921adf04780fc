"""Reference tables shipped in umkm_shared/reference/data: counts, integrity, lookups, speed."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from umkm_shared.reference import (
    KBLI_LEVELS,
    Region,
    area,
    centroids,
    fold_name,
    kbli,
    population,
    preload,
    wilayah,
)

# --- wilayah -------------------------------------------------------------------------------------


def test_wilayah_counts_per_level() -> None:
    table = wilayah()
    assert len(table) == 91_599
    assert [len(table.all(level)) for level in (1, 2, 3, 4)] == [38, 514, 7_285, 83_762]


def test_wilayah_loads_well_under_a_second() -> None:
    started = time.perf_counter()
    table = wilayah.__wrapped__()  # bypass the cache: measure a cold load
    elapsed = time.perf_counter() - started
    assert len(table) == 91_599
    assert elapsed < 0.5, f"loading wilayah took {elapsed:.3f}s"


def test_tables_are_cached_singletons() -> None:
    preload()
    assert wilayah() is wilayah() and kbli() is kbli("2020") and centroids() is centroids()
    assert population() is population() and area() is area()


def test_every_region_has_a_parent_and_clean_name() -> None:
    table = wilayah()
    for level in (1, 2, 3, 4):
        for region in table.all(level):
            assert region.name == " ".join(region.name.split()) and region.name
            if level == 1:
                assert region.parent_code is None
            else:
                assert table.exists(region.parent_code or "")


def test_get_returns_region_with_level_parent_and_kind() -> None:
    table = wilayah()
    assert table.get("32.73") == Region("32.73", "Kota Bandung", 2, "32")
    assert table.get("32.73").kind == "kota"  # type: ignore[union-attr]
    assert table.get("32.04").kind == "kabupaten"  # type: ignore[union-attr]
    assert table.get("32").kind == "provinsi"  # type: ignore[union-attr]
    assert table.get("32.73.01").kind == "kecamatan"  # type: ignore[union-attr]
    desa = table.get("32.73.01.1001")
    assert desa is not None and desa.level == 4 and desa.parent_code == "32.73.01"
    assert desa.kind == "kelurahan"
    assert table.get("91.03.01.3007").kind == "desa"  # type: ignore[union-attr]  # desa adat


def test_get_takes_only_canonical_codes() -> None:
    table = wilayah()
    assert table.get("3273") is None
    assert table.get("32.73.99") is None
    assert not table.exists("99")
    assert table.exists("32.73.01.1001")


def test_children_province_of_and_name_of() -> None:
    table = wilayah()
    kecamatan = table.children("32.73")
    assert len(kecamatan) == 30
    assert all(r.level == 3 and r.parent_code == "32.73" for r in kecamatan)
    assert table.children("32.73.01.1001") == []
    assert table.children("99") == []
    assert len(table.children("32")) == 27  # Jawa Barat: 18 kabupaten + 9 kota
    province = table.province_of("32.73.01.1001")
    assert province is not None and province.name == "Jawa Barat"
    assert table.province_of("99.01") is None
    assert table.name_of("31.71") == "Kota Administrasi Jakarta Pusat"
    assert table.name_of("31.70") is None


def _codes(regions: list[Region]) -> list[str]:
    return [r.code for r in regions]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Kota Bandung", ["32.73"]),
        ("KOTA BANDUNG", ["32.73"]),
        ("Kab. Bandung", ["32.04"]),
        ("kabupaten   bandung", ["32.04"]),
        ("Kab Bandung Barat", ["32.17"]),
        ("Kota Adm. Jakarta Pusat", ["31.71"]),
        ("Jakarta Pusat", ["31.71"]),
        ("Kabupaten Administrasi Kepulauan Seribu", ["31.01"]),
        ("DKI Jakarta", ["31"]),
        ("Daerah Khusus Ibukota Jakarta", ["31"]),
        ("Provinsi Jawa Barat", ["32"]),
        ("Prov. Jawa Barat", ["32"]),
        ("DIY", ["34"]),
        ("Kabupaten Kepulauan Siau Tagulandang Biaro", ["71.09"]),
        ("Kab. Kep. Siau Tagulandang Biaro", ["71.09"]),
        ("Yoboi", ["91.03.01.3007"]),
        ("Desa Adat Yoboi", ["91.03.01.3007"]),
    ],
)
def test_search_by_name_unique(query: str, expected: list[str]) -> None:
    assert _codes(wilayah().search_by_name(query)) == expected


def test_search_ignores_diacritics_apostrophes_and_punctuation() -> None:
    table = wilayah()
    assert _codes(table.search_by_name("Bándung", level=2)) == ["32.04", "32.73"]
    with_apostrophe = _codes(table.search_by_name("Regapu’u"))
    assert with_apostrophe and with_apostrophe == _codes(table.search_by_name("REGAPU'U"))
    assert with_apostrophe == _codes(table.search_by_name("regapuu"))
    assert _codes(table.search_by_name("Sawang Ba'u")) == _codes(table.search_by_name("sawang bau"))


def test_search_returns_every_match_so_ambiguity_is_visible() -> None:
    table = wilayah()
    everything = table.search_by_name("Bandung")
    assert {"32.04", "32.73"} <= set(_codes(everything))
    assert {r.level for r in everything} == {2, 3, 4}
    assert _codes(table.search_by_name("Bandung", level=2)) == ["32.04", "32.73"]
    assert _codes(table.search_by_name("Bandung", level=3, within="35")) == ["35.04.17"]
    assert table.search_by_name("Bandung", level=2, within="33") == []
    assert _codes(everything) == sorted(_codes(everything))


def test_search_kind_word_is_a_hint_not_a_requirement() -> None:
    table = wilayah()
    # "Kota Baru" is a real kecamatan name: it matches literally, not as a kota named "Baru".
    kecamatan = table.search_by_name("Kota Baru", level=3)
    assert len(kecamatan) >= 3 and all(r.name == "Kota Baru" for r in kecamatan)
    assert _codes(table.search_by_name("Kec. Kota Baru")) == _codes(kecamatan)
    # The hint restricts kind: "Kota Bandung" never returns the kabupaten or a desa.
    assert all(r.kind in ("desa", "kelurahan") for r in table.search_by_name("Desa Bandung"))
    assert table.search_by_name("Kecamatan Kota Bandung") == []


def test_search_no_match_and_empty() -> None:
    assert wilayah().search_by_name("Atlantis") == []
    assert wilayah().search_by_name("  ") == []
    assert wilayah().search_by_name("Kab.") == []


def test_fold_name() -> None:
    assert fold_name("  Kab.  Bándung  ") == "kab bandung"
    assert fold_name("Jum’at-Kliwon") == "jumat kliwon"
    assert fold_name("Kep. Seribu") == "kepulauan seribu"


# --- KBLI ----------------------------------------------------------------------------------------


def test_kbli_2020_structure_counts() -> None:
    counts = Counter(e.level for level in KBLI_LEVELS for e in kbli().all(level))
    assert counts == {
        "kategori": 21,
        "golongan_pokok": 88,
        "golongan": 245,
        "subgolongan": 567,
        "kelompok": 1_790,
    }


def test_kbli_parents_are_prefixes_and_exist() -> None:
    table = kbli()
    for level in KBLI_LEVELS[1:]:
        for entry in table.all(level):
            parent = table.get(entry.parent_code or "")
            assert parent is not None, entry.code
            if level == "golongan_pokok":
                assert parent.level == "kategori" and parent.code == entry.section
            else:
                assert entry.code.startswith(parent.code) and len(parent.code) + 1 == len(
                    entry.code
                )
            assert parent.section == entry.section


def test_kbli_lookups() -> None:
    table = kbli("2020")
    entry = table.get("10792")
    assert entry is not None and entry.level == "kelompok" and entry.title == "INDUSTRI KUE BASAH"
    assert [e.code for e in table.ancestors("10792")] == ["C", "10", "107", "1079"]
    assert table.ancestors("C") == []
    assert table.ancestors("nope") == []
    assert table.section_of("10792") == "C"
    assert table.title("99999") is None
    assert table.section_of("99999") is None
    assert table.exists("A") and table.exists("01111") and not table.exists("99999")
    assert [e.code for e in table.children("107")][:2] == ["1071", "1072"]


def test_kbli_repaired_golongan() -> None:
    table = kbli()
    golongan_842 = table.get("842")
    assert golongan_842 is not None and golongan_842.title.startswith("PENYEDIAAN LAYANAN")
    assert table.get("8421").title == "HUBUNGAN LUAR NEGERI"  # type: ignore[union-attr]
    for code in ("151", "331", "511", "512", "662", "872"):
        assert table.get(code).level == "golongan"  # type: ignore[union-attr]
        assert table.get(code + "1") or table.get(code + "0")


def test_kbli_unknown_version() -> None:
    with pytest.raises(ValueError, match="KBLI version '2025' is not available"):
        kbli("2025")


# --- centroids, population, area ----------------------------------------------------------------


def test_point_of_kecamatan_with_its_own_point_is_exact() -> None:
    point = centroids().point("32.73.25")  # Cibiru, Kota Bandung
    assert point is not None and not point.approximate and point.source_code == "32.73.25"
    assert -7.0 < point.lat < -6.8 and 107.6 < point.lng < 107.8


def test_point_of_desa_falls_back_to_its_kecamatan() -> None:
    point = centroids().point("32.73.25.1001")
    assert point is not None and point.approximate
    assert point.source_code == "32.73.25" and point.source_level == 3


def test_point_of_kecamatan_without_point_falls_back_to_kabupaten_kota() -> None:
    # Sukasari (Kota Bandung) was joined by name to Sukasari in Bogor; the point was dropped.
    point = centroids().point("32.73.01")
    assert point is not None and point.approximate and point.source_code == "32.73"
    desa = centroids().point("32.73.01.1001")
    assert desa is not None and desa.source_code == "32.73" and desa.source_level == 2


def test_derived_points_are_approximate() -> None:
    for code in ("31", "34", "91", "92", "93", "95", "96", "12.75"):
        point = centroids().point(code)
        assert point is not None and point.approximate and point.source_code == code
    jakarta = centroids().point("31")
    assert jakarta is not None and -6.4 < jakarta.lat < -5.5  # the source had the wrong sign


def test_every_region_has_a_point_inside_indonesia() -> None:
    table = centroids()
    for level in (1, 2, 3):
        for region in wilayah().all(level):
            point = table.point(region.code)
            assert point is not None, region.code
            assert -11.5 < point.lat < 6.5 and 94.5 < point.lng < 141.5, region.code
            assert point.source_code == region.code[: len(point.source_code)]
    assert table.point("99") is None and table.point("32.73.99") is None


def test_population_and_area_cover_every_province_and_kabupaten_kota() -> None:
    expected = {r.code for level in (1, 2) for r in wilayah().all(level)}
    assert set(population()) == expected
    assert set(area()) == expected
    for code, people in population().items():
        assert people.male + people.female == people.total > 0
        if "." not in code:
            kab_total = sum(v.total for k, v in population().items() if k.startswith(code + "."))
            assert kab_total == people.total
    assert all(km2 > 0 for km2 in area().values())
    assert area()["11.10"] == pytest.approx(1851.615)  # code repaired from "11.1"
    assert area()["31"] == pytest.approx(661.53)  # code repaired from "31.0"
