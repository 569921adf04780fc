"""UMKM scale under PP 7/2021 art. 35: mikro, kecil, menengah, or besar (not an UMKM).

A business is classified by its capital (modal usaha, excluding land and buildings) or by its
annual sales. Capital is the test at registration; annual sales apply to businesses that existed
before the regulation. So when both figures are given and no basis is asked for, capital decides;
callers classifying a pre-existing business (or one with no capital figure) use the sales basis.
Upper bounds are inclusive: capital of exactly Rp 1,000,000,000 is mikro, one Rupiah more is kecil.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from umkm_shared.parsing import format_rupiah


class Scale(StrEnum):
    MIKRO = "mikro"
    KECIL = "kecil"
    MENENGAH = "menengah"
    BESAR = "besar"

    @property
    def rank(self) -> int:
        """0 mikro ... 3 besar: moving to a higher rank is "naik kelas"."""
        return list(Scale).index(self)


class ScaleBasis(StrEnum):
    CAPITAL = "capital"
    SALES = "sales"


@dataclass(frozen=True)
class ScaleBand:
    scale: Scale
    max_capital_idr: int  # inclusive
    max_annual_sales_idr: int  # inclusive


# PP 7/2021 art. 35 (3)-(5); above the last band the business is besar.
SCALE_BANDS: tuple[ScaleBand, ...] = (
    ScaleBand(Scale.MIKRO, 1_000_000_000, 2_000_000_000),
    ScaleBand(Scale.KECIL, 5_000_000_000, 15_000_000_000),
    ScaleBand(Scale.MENENGAH, 10_000_000_000, 50_000_000_000),
)


@dataclass(frozen=True)
class ScaleResult:
    scale: Scale
    basis: ScaleBasis
    reason: str  # e.g. "capital Rp 1.000.000.001 is above Rp 1.000.000.000 and at most ..."


def classify_scale(
    capital_idr: int | None,
    annual_sales_idr: int | None,
    basis: ScaleBasis | str | None = None,
) -> ScaleResult:
    """Classify a business. `basis=None` uses capital when given, else annual sales.

    Raises ValueError when the figure the basis needs is missing or a figure is negative.
    """
    for label, value in (("capital", capital_idr), ("annual sales", annual_sales_idr)):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{label} must be an int number of Rupiah, got {value!r}")
        if value < 0:
            raise ValueError(f"{label} must not be negative, got {value}")
    if basis is not None:
        basis = ScaleBasis(basis)
    else:
        if capital_idr is None and annual_sales_idr is None:
            raise ValueError("classifying a business needs its capital or its annual sales")
        basis = ScaleBasis.CAPITAL if capital_idr is not None else ScaleBasis.SALES
    amount = capital_idr if basis is ScaleBasis.CAPITAL else annual_sales_idr
    label = "capital" if basis is ScaleBasis.CAPITAL else "annual sales"
    if amount is None:
        raise ValueError(f"classifying by {label} needs the {label}")

    lower: int | None = None
    for band in SCALE_BANDS:
        upper = band.max_capital_idr if basis is ScaleBasis.CAPITAL else band.max_annual_sales_idr
        if amount <= upper:
            above = f"above {format_rupiah(lower)} and " if lower is not None else ""
            reason = f"{label} {format_rupiah(amount)} is {above}at most {format_rupiah(upper)}"
            return ScaleResult(band.scale, basis, f"{reason}: {band.scale} (PP 7/2021 art. 35)")
        lower = upper
    assert lower is not None
    reason = f"{label} {format_rupiah(amount)} is above {format_rupiah(lower)}"
    return ScaleResult(Scale.BESAR, basis, f"{reason}: besar, not an UMKM (PP 7/2021 art. 35)")


def is_umkm(scale: Scale | str) -> bool:
    """Mikro, kecil and menengah are UMKM; besar is not."""
    return Scale(scale) is not Scale.BESAR
