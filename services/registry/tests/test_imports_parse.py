"""The parse fast path's shortcuts give what the shared rules give: the scale from the PP 7/2021
bands, and per-value caches that return the same amount or the same error every time."""

from __future__ import annotations

import pytest

from umkm_registry import domain
from umkm_registry.imports import normalize
from umkm_shared.scale import SCALE_BANDS


def _edges() -> list[int]:
    out = [0, 1]
    for band in SCALE_BANDS:
        for limit in (band.max_capital_idr, band.max_annual_sales_idr):
            out += [limit - 1, limit, limit + 1]
    return out


@pytest.mark.parametrize("amount", _edges())
def test_scale_of_equals_the_domain_rule(amount: int) -> None:
    assert normalize.scale_of(amount, None) == domain.scale_of(amount, None)
    assert normalize.scale_of(None, amount) == domain.scale_of(None, amount)
    assert normalize.scale_of(amount, 10**15) == domain.scale_of(amount, 10**15)


def test_cached_amounts_and_errors_repeat() -> None:
    for _ in range(2):  # the second time from the cache
        assert normalize._money("capital", "Rp 1.500.000,-", 10**15) == 1_500_000
        assert normalize._money("capital", "  ", 10**15) is None
        with pytest.raises(normalize.RowError) as e:
            normalize._money("annual_sales", "1,500", 10**15)
        assert e.value.key == "annual_sales" and "ambiguous" in e.value.reason
        with pytest.raises(normalize.RowError) as e:
            normalize._money("capital", "Rp 2.000.000", 1_000_000)
        assert "above" in e.value.reason


def test_cached_names_repeat() -> None:
    for _ in range(2):
        assert normalize._name("owner_name", "BUDI  SANTOSO") == "Budi Santoso"
        assert normalize._name("business_name", "CV MAJU JAYA") == "CV Maju Jaya"
