"""Column-wise generation of synthetic UMKM, in fixed blocks so output never depends on batching.

Record i of a dataset is a pure function of (seed, within, as_of, i): it is generated in block
i // BLOCK from a random stream seeded by (seed, block), and its identifiers come from keyed
permutations of i. So `generate(n)` is a prefix of `generate(n + k)`, any `batch_size` gives the
same records, and NIK/NIB/entity NPWP never collide within a dataset.

Numbers (regions, scale, money, dates, identifiers, coordinates) are drawn with numpy, vectorised;
text (names, addresses, products, certificates) is built per record in plain Python from pre-drawn
choices, which is what bounds the rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from umkm_shared.reference import wilayah
from umkm_shared.synthetic._catalog import STYLE_TEMPLATES, Activity, catalog
from umkm_shared.synthetic._permute import permute
from umkm_shared.synthetic._regions import RegionTable, normalize_within, regions
from umkm_shared.synthetic._vocab import (
    BALI_BIRTH_ORDER,
    BLESSINGS_BY_FAITH,
    BLESSINGS_COMMON,
    GANGS,
    GROUPS,
    HOUSING,
    LEGAL_FORMS,
    STREETS,
    NameGroup,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

BLOCK = 8192  # records per internal block: the unit of determinism

# Scale shares (by capital, PP 7/2021): close to the national 98.7 / 1.2 / 0.1 split.
SCALE_SHARES: dict[str, float] = {"mikro": 0.987, "kecil": 0.012, "menengah": 0.001}
COORDINATE_SHARE = 0.70
FEMALE_SHARE = 0.60  # most UMKM are run by women
OWNER_AGE_RANGE = (18, 75)
FOUNDED_YEARS_AGO = (1, 40)
NIB_SHARE = {"mikro": 0.27, "kecil": 0.9, "menengah": 0.98}
NPWP_SHARE = {"mikro": 0.12, "kecil": 0.7, "menengah": 0.95}
LEGAL_FORM_SHARE = {"mikro": 0.04, "kecil": 0.45, "menengah": 0.8}
NIB_PREFIXES = ("91", "81", "12", "02", "13", "22")
# PP 42/2024: halal certificates issued from 17 October 2024 stay valid while nothing changes.
HALAL_INDEFINITE_FROM = date(2024, 10, 17)

_SCALES = ("mikro", "kecil", "menengah")
_SERIAL_MAX = 9999
_LAT_RANGE = (-11.4, 6.4)
_LNG_RANGE = (94.6, 141.4)
_KEY_NIK, _KEY_NIB, _KEY_NPWP = 1, 2, 3


class KbliRef(NamedTuple):
    version: str
    code: str


@dataclass(frozen=True, slots=True)
class SyntheticCertification:
    kind: Literal["halal", "pirt", "bpom", "sni", "other"]
    number: str
    issued_on: date
    valid_until: date | None  # None: valid while nothing changes (halal since PP 42/2024)

    def registry_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "number": self.number,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }


@dataclass(frozen=True, slots=True)
class SyntheticUmkm:
    """One synthetic business. The first block of fields are the registry's (JSON names)."""

    business_name: str
    owner_name: str
    owner_nik: str
    nib: str | None
    npwp: str | None
    kbli: KbliRef
    village_code: str
    address: str
    latitude: float | None
    longitude: float | None
    capital_idr: int
    annual_sales_idr: int
    workforce: int
    founded_on: date
    products: tuple[str, ...]
    certifications: tuple[SyntheticCertification, ...]
    # not registry fields: what the generator knows, for tests, demos and benchmarks
    index: int
    owner_sex: Literal["female", "male"]
    owner_birth_date: date
    scale: Literal["mikro", "kecil", "menengah"]
    legal_form: str | None  # "CV", "UD", "PT" or None (a sole trader without a legal form)
    policy_sector: str  # the generator's label: kuliner, pariwisata, fesyen, otomotif, ...

    def registry_json(self) -> dict[str, Any]:
        """The record as the registry's create body (UmkmCreate, snake_case JSON)."""
        return {
            "business_name": self.business_name,
            "owner_name": self.owner_name,
            "owner_nik": self.owner_nik,
            "nib": self.nib,
            "npwp": self.npwp,
            "kbli": {"version": self.kbli.version, "code": self.kbli.code},
            "village_code": self.village_code,
            "address": self.address,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "capital_idr": self.capital_idr,
            "annual_sales_idr": self.annual_sales_idr,
            "workforce": self.workforce,
            "founded_on": self.founded_on.isoformat(),
            "products": list(self.products),
            "certifications": [c.registry_json() for c in self.certifications],
        }


# Column names of a SyntheticBatch, in record-field order.
COLUMNS: tuple[str, ...] = (
    "business_name",
    "owner_name",
    "owner_nik",
    "nib",
    "npwp",
    "kbli_code",
    "village_code",
    "address",
    "latitude",
    "longitude",
    "capital_idr",
    "annual_sales_idr",
    "workforce",
    "founded_on",
    "products",
    "certifications",
    "index",
    "owner_sex",
    "owner_birth_date",
    "scale",
    "legal_form",
    "policy_sector",
)


@dataclass(frozen=True)
class SyntheticBatch:
    """A batch of records as columns (numpy arrays; text columns are object arrays).

    `latitude`/`longitude` are NaN where a record has no coordinates; `nib`, `npwp`, `legal_form`
    hold None where absent; dates are `datetime64[D]`; `products` holds tuples of str and
    `certifications` tuples of SyntheticCertification.
    """

    columns: dict[str, np.ndarray]
    as_of: date

    def __len__(self) -> int:
        return len(self.columns["index"])

    def records(self) -> Iterator[SyntheticUmkm]:
        c = self.columns
        lists = {name: c[name].tolist() for name in COLUMNS}
        for row in zip(*(lists[name] for name in COLUMNS), strict=True):
            values = dict(zip(COLUMNS, row, strict=True))
            lat, lng = values["latitude"], values["longitude"]
            has_point = lat == lat  # NaN when missing
            yield SyntheticUmkm(
                business_name=values["business_name"],
                owner_name=values["owner_name"],
                owner_nik=values["owner_nik"],
                nib=values["nib"],
                npwp=values["npwp"],
                kbli=KbliRef("2020", values["kbli_code"]),
                village_code=values["village_code"],
                address=values["address"],
                latitude=lat if has_point else None,
                longitude=lng if has_point else None,
                capital_idr=values["capital_idr"],
                annual_sales_idr=values["annual_sales_idr"],
                workforce=values["workforce"],
                founded_on=values["founded_on"],
                products=values["products"],
                certifications=values["certifications"],
                index=values["index"],
                owner_sex=values["owner_sex"],
                owner_birth_date=values["owner_birth_date"],
                scale=values["scale"],
                legal_form=values["legal_form"],
                policy_sector=values["policy_sector"],
            )

    def to_polars(self) -> pl.DataFrame:
        """The batch as a polars DataFrame (kbli as `kbli_code`; certifications as structs)."""
        import polars as pl

        c = self.columns
        data: dict[str, Any] = {}
        for name in COLUMNS:
            column = c[name]
            if name in ("latitude", "longitude"):
                data[name] = pl.Series(name, column).fill_nan(None)
            elif name == "products":
                data[name] = _list_column(name, column, pl.String, lambda p: p)
            elif name == "certifications":
                cert = pl.Struct(
                    {
                        "kind": pl.String,
                        "number": pl.String,
                        "issued_on": pl.Date,
                        "valid_until": pl.Date,
                    }
                )
                data[name] = _list_column(
                    name,
                    column,
                    cert,
                    lambda certs: [
                        {
                            "kind": x.kind,
                            "number": x.number,
                            "issued_on": x.issued_on,
                            "valid_until": x.valid_until,
                        }
                        for x in certs
                    ],
                )
            elif column.dtype == object:
                data[name] = pl.Series(name, column.tolist(), dtype=pl.String)
            else:
                data[name] = pl.Series(name, column)
        return pl.DataFrame(data)


def _list_column(
    name: str, column: np.ndarray, inner: Any, items: Callable[[Any], Any]
) -> pl.Series:
    """A polars list column built from flattened values (polars converts nested Python lists
    slowly): values grouped back by row, rows without values as empty lists."""
    import numpy as np
    import polars as pl

    n = len(column)
    per_row = [items(x) for x in column.tolist()]
    lengths = np.fromiter((len(x) for x in per_row), dtype=np.int64, count=n)
    flat = pl.Series("v", [v for values in per_row for v in values], dtype=inner)
    grouped = (
        pl.DataFrame({"row": np.repeat(np.arange(n), lengths), "v": flat})
        .group_by("row", maintain_order=True)
        .agg(pl.col("v"))
    )
    rows = pl.DataFrame({"row": np.arange(n)})
    joined = rows.join(grouped, on="row", how="left").sort("row")
    return joined["v"].fill_null(pl.lit([], dtype=pl.List(inner))).alias(name)


# --- owners: birth dates and NIK serials ----------------------------------------------------------


@dataclass(frozen=True)
class _BirthCells:
    """(birth date, sex) cells, each with a capacity of NIK serials proportional to how common
    owners of that age and sex are. A permuted record index picks a cell and a serial in it, so
    (birth date, sex, serial) -- and therefore the NIK -- is unique per record."""

    ordinal: np.ndarray  # birth date (proleptic ordinal) per cell
    female: np.ndarray  # bool per cell
    start: np.ndarray  # first global slot of each cell (cumulative capacities)
    total: int  # number of slots: the most records a dataset can have


@cache
def _birth_cells(as_of: date) -> _BirthCells:
    import numpy as np

    youngest, oldest = OWNER_AGE_RANGE
    first = _years_before(as_of, oldest + 1) + timedelta(days=1)
    last = _years_before(as_of, youngest)
    ordinals = np.arange(first.toordinal(), last.toordinal() + 1, dtype=np.int64)
    age = (as_of.toordinal() - ordinals) / 365.2425
    weight = np.exp(-0.5 * ((age - 44.0) / 12.0) ** 2)
    female_cap = np.maximum(1, np.floor(_SERIAL_MAX * weight / weight.max())).astype(np.int64)
    male_ratio = (1 - FEMALE_SHARE) / FEMALE_SHARE
    male_cap = np.maximum(1, np.floor(female_cap * male_ratio)).astype(np.int64)
    capacity = np.column_stack([male_cap, female_cap]).ravel()
    start = np.concatenate([[0], np.cumsum(capacity)[:-1]])
    return _BirthCells(
        ordinal=np.repeat(ordinals, 2),
        female=np.tile(np.array([False, True]), len(ordinals)),
        start=start,
        total=int(capacity.sum()),
    )


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def max_records(as_of: date | None = None) -> int:
    """The most records one dataset can hold with unique NIKs (about 1.8e8)."""
    return _birth_cells(as_of or _today()).total


def _today() -> date:
    return datetime.now(UTC).date()


# --- per-block generation ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    seed: int
    within: str | None
    as_of: date
    regions: RegionTable
    activity_cum: np.ndarray
    cells: _BirthCells


def _context(seed: int, within: str | None, as_of: date) -> _Context:
    import numpy as np

    cat = catalog()
    cum = np.cumsum(np.array(cat.probabilities))
    cum /= cum[-1]
    return _Context(seed, within, as_of, regions(within), cum, _birth_cells(as_of))


def _round_sig(values: np.ndarray, digits: np.ndarray | int) -> np.ndarray:
    """Round positive amounts to `digits` significant digits (how people write Rupiah)."""
    import numpy as np

    magnitude = np.floor(np.log10(np.maximum(values, 1.0)))
    step = 10.0 ** np.maximum(magnitude - digits + 1, 0)
    rounded: np.ndarray = (np.round(values / step) * step).astype(np.int64)
    return rounded


def _amounts(rng: np.random.Generator, scale_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Capital and annual sales (int Rupiah) inside the scale's band, both bases agreeing."""
    import numpy as np

    n = len(scale_idx)
    digits = np.where(rng.random(n) < 0.75, 2, 3)
    # capital: mikro lognormal around Rp 12 juta; kecil/menengah log-uniform in their band
    capital = np.exp(rng.normal(math.log(12e6), 1.25, n))
    capital = np.clip(capital, 500_000, 1e9)
    capital = np.where(
        scale_idx == 1, np.exp(rng.uniform(math.log(1e9), math.log(5e9), n)), capital
    )
    capital = np.where(
        scale_idx == 2, np.exp(rng.uniform(math.log(5e9), math.log(1e10), n)), capital
    )
    capital = _round_sig(capital, np.where(scale_idx == 0, digits, 3))
    bounds = np.array(
        [[500_000, 1_000_000_000], [1_010_000_000, 5_000_000_000], [5_010_000_000, 10_000_000_000]],
        dtype=np.int64,
    )
    capital = np.clip(capital, bounds[scale_idx, 0], bounds[scale_idx, 1])
    # sales: mikro about 4x capital a year; kecil/menengah log-uniform in their sales band
    sales = capital * np.exp(rng.normal(math.log(4.0), 0.7, n))
    over = sales > 2e9
    sales = np.where(over, 2e9 * rng.uniform(0.5, 1.0, n), sales)
    sales = np.where(scale_idx == 1, np.exp(rng.uniform(math.log(2e9), math.log(15e9), n)), sales)
    sales = np.where(scale_idx == 2, np.exp(rng.uniform(math.log(15e9), math.log(50e9), n)), sales)
    sales = _round_sig(np.maximum(sales, 1_200_000), np.where(scale_idx == 0, digits, 3))
    sales_bounds = np.array(
        [
            [1_000_000, 2_000_000_000],
            [2_010_000_000, 15_000_000_000],
            [15_100_000_000, 50_000_000_000],
        ],
        dtype=np.int64,
    )
    sales = np.clip(sales, sales_bounds[scale_idx, 0], sales_bounds[scale_idx, 1])
    return capital, sales


def _workforce(rng: np.random.Generator, scale_idx: np.ndarray) -> np.ndarray:
    import numpy as np

    n = len(scale_idx)
    mikro = rng.choice(
        np.arange(1, 10), size=n, p=[0.40, 0.28, 0.14, 0.08, 0.04, 0.025, 0.015, 0.01, 0.01]
    )
    u = rng.random(n)
    kecil = 5 + np.floor(15 * u**1.6).astype(np.int64)
    menengah = 20 + np.floor(80 * u**1.8).astype(np.int64)
    return np.select([scale_idx == 0, scale_idx == 1], [mikro, kecil], menengah).astype(np.int32)


def _block(ctx: _Context, block_no: int) -> dict[str, np.ndarray]:
    import numpy as np

    cat = catalog()
    reg = ctx.regions
    n = BLOCK
    start = block_no * BLOCK
    index = np.arange(start, start + n, dtype=np.int64)
    seq = np.random.SeedSequence([ctx.seed & 0xFFFFFFFF, ctx.seed >> 32, block_no])
    rng = np.random.Generator(np.random.PCG64(seq))
    py = random.Random(int(rng.integers(0, 2**63)))

    # where
    desa = np.minimum(
        np.searchsorted(reg.desa_cum, rng.random(n), side="right"), len(reg.desa_codes) - 1
    )
    kec = reg.desa_kec[desa]
    kab = reg.kec_kab[kec]
    # what, how big
    act = np.minimum(
        np.searchsorted(ctx.activity_cum, rng.random(n), side="right"), len(cat.activities) - 1
    )
    u_scale = rng.random(n)
    scale_idx = np.where(
        u_scale < SCALE_SHARES["mikro"],
        0,
        np.where(u_scale < SCALE_SHARES["mikro"] + SCALE_SHARES["kecil"], 1, 2),
    )
    capital, sales = _amounts(rng, scale_idx)
    workforce = _workforce(rng, scale_idx)

    # who: birth date, sex and NIK serial from a permutation of the record index
    cells = ctx.cells
    if start + n > cells.total:
        raise ValueError(f"at most {cells.total} records fit in one dataset")
    slot = permute(index, cells.total, _key(ctx.seed, _KEY_NIK))
    cell = np.searchsorted(cells.start, slot, side="right") - 1
    serial = slot - cells.start[cell] + 1
    birth = cells.ordinal[cell]
    female = cells.female[cell]
    birth_dt = (birth - date(1970, 1, 1).toordinal()).astype("datetime64[D]")
    years = birth_dt.astype("datetime64[Y]").astype(np.int64) + 1970
    months = birth_dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (birth_dt - birth_dt.astype("datetime64[M]")).astype(np.int64) + 1
    nik = (
        reg.kec_nik[kec] * 10**10
        + (days + 40 * female) * 10**8
        + months * 10**6
        + (years % 100) * 10**4
        + serial
    )

    # founded 1-40 years ago (skewed recent), never before the owner turned 17
    as_of_ord = ctx.as_of.toordinal()
    age_years = (as_of_ord - birth) / 365.2425
    lo, hi = FOUNDED_YEARS_AGO
    years_ago = lo + np.minimum(rng.exponential(8.0, n), hi - lo - 0.01)
    years_ago = np.minimum(years_ago, np.maximum(age_years - 17.0, lo))
    founded = as_of_ord - np.floor(years_ago * 365.2425).astype(np.int64)

    # legal form, NIB, NPWP
    legal_p = np.array([LEGAL_FORM_SHARE[s] for s in _SCALES])[scale_idx]
    has_legal = rng.random(n) < legal_p
    nib_p = np.where(has_legal, 0.9, np.array([NIB_SHARE[s] for s in _SCALES])[scale_idx])
    has_nib = rng.random(n) < nib_p
    nib_body = permute(index, 10**11, _key(ctx.seed, _KEY_NIB))
    nib_prefix = rng.integers(0, len(NIB_PREFIXES), n)
    npwp_p = np.array([NPWP_SHARE[s] for s in _SCALES])[scale_idx]
    u_npwp = rng.random(n)
    npwp_body = permute(index, 10**10, _key(ctx.seed, _KEY_NPWP))
    npwp_type = rng.integers(1, 4, n)

    # coordinates around the kecamatan centre
    has_point = rng.random(n) < COORDINATE_SHARE
    sd = reg.kec_sd_km[kec]
    dy = np.clip(rng.normal(0, 1, n), -2.5, 2.5) * sd
    dx = np.clip(rng.normal(0, 1, n), -2.5, 2.5) * sd
    lat0 = reg.kec_lat[kec]
    lat = np.clip(lat0 + dy / 110.574, *_LAT_RANGE)
    lng = np.clip(reg.kec_lng[kec] + dx / (111.320 * np.cos(np.radians(lat0))), *_LNG_RANGE)
    lat = np.where(has_point, np.round(lat, 6), np.nan)
    lng = np.where(has_point, np.round(lng, 6), np.nan)

    # text, per record
    text = _texts(
        ctx,
        py,
        desa=desa.tolist(),
        kab=kab.tolist(),
        act=act.tolist(),
        scale_idx=scale_idx.tolist(),
        female=female.tolist(),
        has_legal=has_legal.tolist(),
        founded=founded.tolist(),
    )

    legal_forms = text["legal_form"]
    nik_text = [f"{x:016d}" for x in nik.tolist()]
    nib_text = [
        f"{NIB_PREFIXES[p]}{b:011d}" if h else None
        for h, p, b in zip(has_nib.tolist(), nib_prefix.tolist(), nib_body.tolist(), strict=True)
    ]
    npwp_text: list[str | None] = []
    for u, p, lf, kind, body, person in zip(
        u_npwp.tolist(),
        npwp_p.tolist(),
        legal_forms,
        npwp_type.tolist(),
        npwp_body.tolist(),
        nik_text,
        strict=True,
    ):
        if lf in ("CV", "PT"):  # an entity: its own NPWP, "0" + the 15-digit legacy number
            npwp_text.append(f"00{kind}{body:010d}000" if u < 0.9 else None)
        else:  # a person: since 2024 the NIK is the NPWP
            npwp_text.append(person if u < p else None)

    obj = _object_array
    return {
        "business_name": obj(text["business_name"]),
        "owner_name": obj(text["owner_name"]),
        "owner_nik": obj(nik_text),
        "nib": obj(nib_text),
        "npwp": obj(npwp_text),
        "kbli_code": obj([cat.activities[a].code for a in act.tolist()]),
        "village_code": obj([reg.desa_codes[d] for d in desa.tolist()]),
        "address": obj(text["address"]),
        "latitude": lat,
        "longitude": lng,
        "capital_idr": capital,
        "annual_sales_idr": sales,
        "workforce": workforce,
        "founded_on": (founded - date(1970, 1, 1).toordinal()).astype("datetime64[D]"),
        "products": obj(text["products"]),
        "certifications": obj(text["certifications"]),
        "index": index,
        "owner_sex": obj(["female" if f else "male" for f in female.tolist()]),
        "owner_birth_date": birth_dt,
        "scale": obj([_SCALES[s] for s in scale_idx.tolist()]),
        "legal_form": obj(legal_forms),
        "policy_sector": obj([cat.activities[a].policy_sector for a in act.tolist()]),
    }


def _object_array(values: list[Any]) -> np.ndarray:
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _key(seed: int, stream: int) -> int:
    return (seed * 0x2545F4914F6CDD1D + stream * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF


# --- text -------------------------------------------------------------------------------------

_NEEDS_SECOND = frozenset(
    {
        "Sri",
        "Siti",
        "Sitti",
        "Nur",
        "Nurul",
        "Dwi",
        "Tri",
        "Muhammad",
        "Ahmad",
        "Moh.",
        "Abd.",
        "Abdul",
        "Teuku",
        "Cut",
        "Galuh",
        "Gusti",
    }
)
_KIND_PREFIXES = ("Kabupaten Administrasi ", "Kota Administrasi ", "Kabupaten ", "Kota ")
_LANDMARKS = (
    "depan Masjid",
    "samping Puskesmas",
    "seberang SDN 1",
    "dekat Pasar",
    "belakang Kantor Desa",
    "depan Balai Desa",
    "samping Musala",
    "dekat Pertigaan",
    "depan Gereja",
    "samping Polsek",
)
_HOUSING_WORDS = ("Perum", "Perumahan", "Komplek", "Griya")
_RTRW_FORMS = (
    "RT {rt:03d}/RW {rw:03d}",
    "RT {rt:03d}/RW {rw:03d}",
    "RT.{rt:02d}/RW.{rw:02d}",
    "RT {rt:02d} RW {rw:02d}",
    "Rt. {rt} Rw. {rw}",
)
_NO_RTRW_HAMLETS = frozenset({"Jorong", "Banjar", "Jaga"})


@cache
def _template_table(style: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    templates = STYLE_TEMPLATES[style]
    total = sum(w for _, w in templates)
    cum, running = [], 0.0
    for _, weight in templates:
        running += weight / total
        cum.append(running)
    return tuple(t for t, _ in templates), tuple(cum)


@cache
def _short_name(code: str) -> str:
    name = wilayah().name_of(code) or ""
    for prefix in _KIND_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _pick_cum(options: tuple[str, ...], cum: tuple[float, ...], u: float) -> str:
    for option, edge in zip(options, cum, strict=True):
        if u < edge:
            return option
    return options[-1]


def _person(g: NameGroup, female: bool, r: random.Random) -> tuple[str, str]:
    """(full name, the name people call them by) for a person of naming group `g`."""
    choice, rand = r.choice, r.random
    given = g.female if female else g.male
    if g.bali:
        order = choice(BALI_BIRTH_ORDER)
        name = choice(given)
        if rand() < g.p_prefix:
            return f"{choice(g.female_prefix if female else g.male_prefix)} {name}", name
        if female:
            return f"Ni {'Luh ' if rand() < 0.4 else ''}{order} {name}", order
        return f"I {order} {name}", order
    first = choice(given)
    parts = [first]
    family = None
    if g.family and rand() < g.p_family:
        if rand() < g.p_second:
            other = choice(given)
            if other != first:
                parts.append(other)
        family = choice(g.family)
        parts.append(family)
    else:
        seconds = g.female_second if female else g.male_second
        if seconds and (rand() < g.p_second or first in _NEEDS_SECOND):
            second = choice(seconds)
            if second != first:
                parts.append(second)
    call = next((p for p in parts if p not in g.skip_call and p != family), parts[0])
    if family and g.key == "batak" and rand() < 0.4:
        call = family  # "Pak Siregar"
    if g.p_prefix and rand() < g.p_prefix:
        parts.insert(0, choice(g.female_prefix if female else g.male_prefix))
    return " ".join(parts), call


def _blessing(g: NameGroup, r: random.Random) -> str:
    if r.random() < 0.3:
        return r.choice(BLESSINGS_BY_FAITH[g.faith])
    return r.choice(BLESSINGS_COMMON)


def _business_name(
    activity: Activity,
    province: str,
    g: NameGroup,
    female: bool,
    call: str,
    legal_form: str | None,
    kab_code: str,
    desa_name: str,
    r: random.Random,
) -> tuple[str, str]:
    """(business name, its head word) -- the head may name the main product."""
    heads = activity.regional_heads.get(province)
    head = r.choice(heads if heads and r.random() < 0.5 else activity.heads)
    if legal_form is not None:
        blessing = _blessing(g, r)
        if activity.legal_head and r.random() < 0.45:
            return f"{legal_form} {head} {blessing}", head
        return f"{legal_form} {blessing}", ""
    templates, cum = _template_table(activity.style)
    template = _pick_cum(templates, cum, r.random())
    honorifics = g.honorific_female if female else g.honorific_male
    name = (
        template.replace("{H}", head)
        .replace("{hon}", f"{r.choice(honorifics)} {call}")
        .replace("{N}", call)
        .replace("{B}", _blessing(g, r) if "{B}" in template else "")
        .replace("{K}", _short_name(kab_code))
        .replace("{D}", desa_name)
    )
    return name, head


def _rt_rw(r: random.Random) -> str:
    rt = 1 + int(14 * r.random() ** 1.5)
    rw = 1 + int(11 * r.random() ** 1.5)
    return r.choice(_RTRW_FORMS).format(rt=rt, rw=rw)


def _house_number(r: random.Random) -> str:
    number = 1 + int(180 * r.random() ** 2)
    return f"{number}{r.choice('ABC')}" if r.random() < 0.08 else str(number)


def _address(g: NameGroup, urban: bool, desa_name: str, r: random.Random) -> str:
    u = r.random()
    hamlets = g.hamlets or GROUPS["jawa"].hamlets
    if urban:
        if u < 0.40:
            base = f"Jl. {r.choice(STREETS)} No. {_house_number(r)}"
            return f"{base}, {_rt_rw(r)}" if r.random() < 0.7 else base
        if u < 0.55:
            street, gang = r.choice(STREETS), r.choice(GANGS)
            return f"Jl. {street} Gg. {gang} No. {_house_number(r)}, {_rt_rw(r)}"
        if u < 0.70:
            return f"Gg. {r.choice(GANGS)} No. {_house_number(r)}, {_rt_rw(r)}"
        if u < 0.80:
            block = f"{r.choice('ABCDEFGH')}{1 + int(r.random() * 20)}"
            return (
                f"{r.choice(_HOUSING_WORDS)} {r.choice(HOUSING)} Blok {block} "
                f"No. {1 + int(r.random() * 30)}"
            )
        if u < 0.90:
            return f"Jl. {r.choice(STREETS)} No. {_house_number(r)} ({r.choice(_LANDMARKS)})"
        return f"Kios Pasar {desa_name} No. {1 + int(r.random() * 120)}"
    hamlet = f"{g.hamlet_word} {r.choice(hamlets)}"
    if u < 0.35:
        return hamlet if g.hamlet_word in _NO_RTRW_HAMLETS else f"{hamlet} {_rt_rw(r)}"
    if u < 0.60:
        return f"Jl. Raya {desa_name} No. {_house_number(r)}"
    if u < 0.80:
        return f"Jl. {r.choice(STREETS)} No. {_house_number(r)}, {hamlet}"
    if u < 0.90:
        return f"{_rt_rw(r)}, Desa {desa_name}"
    return f"Jl. Raya {desa_name} KM {1 + int(r.random() * 25)}"


def _products(activity: Activity, province: str, head: str, r: random.Random) -> tuple[str, ...]:
    regional = activity.regional_products.get(province)
    pool = regional if regional and r.random() < 0.6 else activity.products
    u = r.random()
    k = 1 if u < 0.35 else (2 if u < 0.75 else 3)
    chosen = r.sample(pool, min(k, len(pool)))
    if head in pool and head not in chosen:  # "Keripik Tempe Barokah" sells Keripik Tempe
        chosen[0] = head
    return tuple(chosen)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _certifications(
    profile: str | None,
    larger: bool,
    kab_code: str,
    founded_ord: int,
    as_of: date,
    r: random.Random,
) -> tuple[SyntheticCertification, ...]:
    if profile is None:
        return ()
    rand = r.random
    region4 = kab_code.replace(".", "")
    earliest = max(founded_ord, as_of.toordinal() - 6 * 365)
    certs: list[SyntheticCertification] = []

    def issued() -> date:
        return date.fromordinal(earliest + int(rand() * max(as_of.toordinal() - earliest, 1)))

    def halal() -> None:
        day = issued()
        valid = None if day >= HALAL_INDEFINITE_FROM else _add_years(day, 4)
        number = f"ID{region4}1{int(rand() * 1e9):09d}{day.year % 100:02d}"
        certs.append(SyntheticCertification("halal", number, day, valid))

    if profile == "food_mfg":
        if rand() < (0.8 if larger else 0.35):
            halal()
        if rand() < (0.6 if larger else 0.03):
            day = issued()
            number = f"BPOM RI MD {int(rand() * 1e12):012d}"
            certs.append(SyntheticCertification("bpom", number, day, _add_years(day, 5)))
        elif rand() < (0.15 if larger else 0.3):
            day = issued()
            until = _add_years(day, 5)
            number = (
                f"P-IRT {1 + int(rand() * 8)}{1 + int(rand() * 16):02d}{region4}"
                f"{1 + int(rand() * 20):02d}{1 + int(rand() * 400):04d}-{until.year % 100:02d}"
            )
            certs.append(SyntheticCertification("pirt", number, day, until))
    elif profile == "food_service":
        if rand() < (0.6 if larger else 0.12):
            halal()
    elif profile == "water":
        if rand() < 0.3:
            day = issued()
            number = f"SLHS {int(rand() * 1e4):04d}/DINKES/{day.year}"
            certs.append(SyntheticCertification("other", number, day, _add_years(day, 3)))
        if rand() < 0.1:
            halal()
    elif profile in ("cosmetic", "jamu"):
        if rand() < (0.7 if larger else 0.25):
            day = issued()
            if profile == "cosmetic":
                number, years = f"NA18{int(rand() * 1e9):09d}", 3
            else:
                number, years = f"POM TR {int(rand() * 1e9):09d}", 5
            certs.append(SyntheticCertification("bpom", number, day, _add_years(day, years)))
        if rand() < 0.2:
            halal()
    elif profile == "sni" and rand() < (0.5 if larger else 0.1):
        day = issued()
        number = f"SPPT-SNI {int(rand() * 1e5):05d}/LSPro-{int(rand() * 1e3):03d}/{day.year}"
        certs.append(SyntheticCertification("sni", number, day, _add_years(day, 4)))
    return tuple(certs)


def _texts(
    ctx: _Context,
    r: random.Random,
    *,
    desa: list[int],
    kab: list[int],
    act: list[int],
    scale_idx: list[int],
    female: list[bool],
    has_legal: list[bool],
    founded: list[int],
) -> dict[str, list[Any]]:
    reg = ctx.regions
    activities = catalog().activities
    names = wilayah()
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "business_name",
            "owner_name",
            "address",
            "products",
            "certifications",
            "legal_form",
        )
    }
    rand = r.random
    for i in range(len(desa)):
        desa_code = reg.desa_codes[desa[i]]
        kab_code = reg.kab_codes[kab[i]]
        province = desa_code[:2]
        groups, cum = reg.kab_groups[kab[i]]
        g = GROUPS[_pick_cum(groups, cum, rand())]
        is_female = female[i]
        owner, call = _person(g, is_female, r)
        activity = activities[act[i]]
        s = scale_idx[i]
        legal_form = None
        if has_legal[i]:
            forms = LEGAL_FORMS[_SCALES[s]]
            u, running = rand(), 0.0
            legal_form = forms[-1][0]
            for form, weight in forms:
                running += weight
                if u < running:
                    legal_form = form
                    break
        desa_name = names.name_of(desa_code) or ""
        business_name, head = _business_name(
            activity, province, g, is_female, call, legal_form, kab_code, desa_name, r
        )
        out["business_name"].append(business_name)
        out["owner_name"].append(owner)
        out["address"].append(_address(g, desa_code[9] == "1", desa_name, r))
        out["products"].append(_products(activity, province, head, r))
        out["certifications"].append(
            _certifications(activity.certs, s > 0, kab_code, founded[i], ctx.as_of, r)
        )
        out["legal_form"].append(legal_form)
    return out


# --- public iteration -------------------------------------------------------------------------


def generate_batches(
    n: int,
    batch_size: int = 100_000,
    *,
    seed: int = 0,
    within: str | None = None,
    as_of: date | None = None,
) -> Iterator[SyntheticBatch]:
    """`n` synthetic UMKM as column batches of `batch_size` (the last may be shorter).

    Deterministic for (seed, within, as_of): any batch_size yields the same records, and a smaller
    `n` yields a prefix. `within` (a wilayah code of any level, dots optional) restricts where the
    businesses are. `as_of` (default: today, UTC) anchors founding and birth dates.
    """
    import numpy as np

    if n < 0:
        raise ValueError("n must not be negative")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if seed < 0 or seed >= 2**64:
        raise ValueError("seed must be in [0, 2**64)")
    day = as_of or _today()
    ctx = _context(seed, normalize_within(within), day)
    if n > ctx.cells.total:
        raise ValueError(f"n={n} is more than the {ctx.cells.total} records a dataset can hold")
    pending: list[dict[str, np.ndarray]] = []
    pending_rows = 0
    produced = 0
    block_no = 0
    while produced < n:
        block = _block(ctx, block_no)
        block_no += 1
        take = min(BLOCK, n - produced - pending_rows)
        if take < BLOCK:
            block = {k: v[:take] for k, v in block.items()}
        pending.append(block)
        pending_rows += take
        while pending_rows >= batch_size or (pending_rows and produced + pending_rows == n):
            size = min(batch_size, pending_rows)
            if len(pending) == 1:
                merged = pending[0]
            else:
                merged = {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}
            batch = {k: v[:size] for k, v in merged.items()}
            rest = {k: v[size:] for k, v in merged.items()}
            pending = [rest] if pending_rows > size else []
            pending_rows -= size
            produced += size
            yield SyntheticBatch(batch, day)


def generate(
    n: int,
    *,
    seed: int = 0,
    within: str | None = None,
    as_of: date | None = None,
) -> Iterator[SyntheticUmkm]:
    """`n` synthetic UMKM, one record at a time (built on `generate_batches`)."""
    for batch in generate_batches(n, BLOCK, seed=seed, within=within, as_of=as_of):
        yield from batch.records()
