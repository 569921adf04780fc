"""UMKM scale under PP 7/2021 art. 35."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umkm_shared.scale import (
    SCALE_BANDS,
    Scale,
    ScaleBasis,
    classify_scale,
    is_umkm,
)

BILLION = 1_000_000_000


@pytest.mark.parametrize(
    ("capital", "expected"),
    [
        (0, Scale.MIKRO),
        (1, Scale.MIKRO),
        (1 * BILLION, Scale.MIKRO),
        (1 * BILLION + 1, Scale.KECIL),
        (5 * BILLION, Scale.KECIL),
        (5 * BILLION + 1, Scale.MENENGAH),
        (10 * BILLION, Scale.MENENGAH),
        (10 * BILLION + 1, Scale.BESAR),
        (10**15, Scale.BESAR),
    ],
)
def test_capital_boundaries(capital: int, expected: Scale) -> None:
    result = classify_scale(capital, None)
    assert result.scale is expected
    assert result.basis is ScaleBasis.CAPITAL


@pytest.mark.parametrize(
    ("sales", "expected"),
    [
        (0, Scale.MIKRO),
        (2 * BILLION, Scale.MIKRO),
        (2 * BILLION + 1, Scale.KECIL),
        (15 * BILLION, Scale.KECIL),
        (15 * BILLION + 1, Scale.MENENGAH),
        (50 * BILLION, Scale.MENENGAH),
        (50 * BILLION + 1, Scale.BESAR),
    ],
)
def test_sales_boundaries(sales: int, expected: Scale) -> None:
    result = classify_scale(None, sales)
    assert result.scale is expected
    assert result.basis is ScaleBasis.SALES


def test_capital_decides_when_both_are_given() -> None:
    # Capital is the registration test; sales that would say otherwise do not override it.
    assert classify_scale(500_000_000, 40 * BILLION).scale is Scale.MIKRO
    assert classify_scale(6 * BILLION, 100_000_000).scale is Scale.MENENGAH


def test_explicit_basis() -> None:
    assert classify_scale(500_000_000, 40 * BILLION, ScaleBasis.SALES).scale is Scale.MENENGAH
    assert classify_scale(500_000_000, 40 * BILLION, "sales").basis is ScaleBasis.SALES
    assert classify_scale(6 * BILLION, 1, ScaleBasis.CAPITAL).scale is Scale.MENENGAH


def test_reasons_name_the_figure_and_the_band() -> None:
    assert classify_scale(1 * BILLION + 1, None).reason == (
        "capital Rp 1.000.000.001 is above Rp 1.000.000.000 and at most Rp 5.000.000.000: "
        "kecil (PP 7/2021 art. 35)"
    )
    assert classify_scale(None, 2 * BILLION).reason == (
        "annual sales Rp 2.000.000.000 is at most Rp 2.000.000.000: mikro (PP 7/2021 art. 35)"
    )
    assert classify_scale(None, 50 * BILLION + 1).reason == (
        "annual sales Rp 50.000.000.001 is above Rp 50.000.000.000: besar, not an UMKM "
        "(PP 7/2021 art. 35)"
    )


@pytest.mark.parametrize(
    ("capital", "sales", "basis", "message"),
    [
        (None, None, None, "classifying a business needs its capital or its annual sales"),
        (None, 5, ScaleBasis.CAPITAL, "classifying by capital needs the capital"),
        (5, None, ScaleBasis.SALES, "classifying by annual sales needs the annual sales"),
        (-1, None, None, "capital must not be negative, got -1"),
        (None, -1, None, "annual sales must not be negative, got -1"),
        (1.5, None, None, "capital must be an int number of Rupiah, got 1.5"),
        (True, None, None, "capital must be an int number of Rupiah, got True"),
        (5, None, "turnover", "'turnover' is not a valid ScaleBasis"),
    ],
)
def test_errors(capital: object, sales: object, basis: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        classify_scale(capital, sales, basis)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_is_umkm_and_rank() -> None:
    assert is_umkm(Scale.MIKRO) and is_umkm(Scale.KECIL) and is_umkm(Scale.MENENGAH)
    assert not is_umkm(Scale.BESAR)
    assert not is_umkm("besar") and is_umkm("mikro")
    assert [s.rank for s in Scale] == [0, 1, 2, 3]
    assert Scale("kecil") is Scale.KECIL and str(Scale.KECIL) == "kecil"


def test_bands_table_is_ordered() -> None:
    assert [b.scale for b in SCALE_BANDS] == [Scale.MIKRO, Scale.KECIL, Scale.MENENGAH]
    for lower, upper in pairwise(SCALE_BANDS):
        assert lower.max_capital_idr < upper.max_capital_idr
        assert lower.max_annual_sales_idr < upper.max_annual_sales_idr


@given(st.integers(0, 10**14), st.integers(0, 10**14), st.sampled_from(list(ScaleBasis)))
def test_property_monotonic(a: int, b: int, basis: ScaleBasis) -> None:
    low, high = sorted((a, b))
    args_low = (low, None) if basis is ScaleBasis.CAPITAL else (None, low)
    args_high = (high, None) if basis is ScaleBasis.CAPITAL else (None, high)
    assert classify_scale(*args_low).scale.rank <= classify_scale(*args_high).scale.rank
