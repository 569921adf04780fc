"""The in-memory columnar supplier index that matching runs on.

Two levels of numpy columns:
- per supplier (`s_*`): coordinates, active flag, default lead time, certificate validity per
  certificate kind (days since 1970, one column per kind), performance, koperasi and cluster codes;
- per product row (`p_*`): its supplier, KBLI 5-digit code (as int), monthly capacity, unit code,
  lead time; `p_live` is False for rows replaced by a later profile version.

Postings (row ids) per KBLI code and per keyword token give a request's candidate rows without a
scan; the hard filters then run as vectorised masks over those rows only (a cheap latitude band
first, haversine on what is left). Updates append rows and tombstone the old ones, so a profile
change costs O(its products); `compact()` drops tombstones when they pile up.

Not thread-safe on its own: `lock` is held by whoever reads or writes (matching runs in a worker
thread, updates come from the event loop).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from ..domain import keyword_tokens, normalise_unit, performance_score

EPOCH = date(1970, 1, 1)
NO_EXPIRY = np.iinfo(np.int32).max
MAX_CERT_KINDS = 32
UNKNOWN = -1


def day_number(d: date) -> int:
    return (d - EPOCH).days


class _Growable:
    """A 1-d (or 2-d, growing along axis 0) numpy column with amortised appends."""

    def __init__(self, dtype: npt.DTypeLike, fill: float | int | bool, width: int = 0) -> None:
        self.dtype = np.dtype(dtype)
        self.fill = fill
        self.width = width
        self.size = 0
        shape: tuple[int, ...] = (16, width) if width else (16,)
        self.data = np.full(shape, fill, dtype=self.dtype)

    def reserve(self, n: int) -> None:
        if n <= len(self.data):
            return
        new = max(n, int(len(self.data) * 1.5) + 16)
        shape: tuple[int, ...] = (new, self.width) if self.width else (new,)
        grown = np.full(shape, self.fill, dtype=self.dtype)
        grown[: self.size] = self.data[: self.size]
        self.data = grown

    def extend(self, values: npt.ArrayLike) -> None:
        arr = np.asarray(values, dtype=self.dtype)
        n = len(arr)
        self.reserve(self.size + n)
        self.data[self.size : self.size + n] = arr
        self.size += n

    def grow_to(self, n: int) -> None:
        self.reserve(n)
        if n > self.size:
            self.data[self.size : n] = self.fill
            self.size = n

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


class _Postings:
    """Row ids per key: appended in chunks, concatenated lazily when read."""

    def __init__(self) -> None:
        self.chunks: dict[int, list[np.ndarray]] = {}
        self.cache: dict[int, np.ndarray] = {}

    def add(self, key: int, rows: np.ndarray) -> None:
        self.chunks.setdefault(key, []).append(rows.astype(np.int64, copy=False))
        self.cache.pop(key, None)

    def get(self, key: int) -> np.ndarray:
        found = self.cache.get(key)
        if found is not None:
            return found
        chunks = self.chunks.get(key)
        if not chunks:
            return np.empty(0, dtype=np.int64)
        merged = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        self.chunks[key] = [merged]
        self.cache[key] = merged
        return merged

    def bulk(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Add many (key, row) pairs at once (vectorised grouping)."""
        if len(keys) == 0:
            return
        order = np.argsort(keys, kind="stable")
        k = keys[order]
        r = rows[order]
        cuts = np.flatnonzero(np.diff(k)) + 1
        starts = np.concatenate(([0], cuts))
        for start, chunk in zip(starts, np.split(r, cuts), strict=True):
            self.add(int(k[start]), chunk)


@dataclass
class ProductIn:
    """One product of a supplier profile as the index takes it."""

    kbli_code: str
    name: str
    keywords: Sequence[str] = ()
    spec: dict[str, object] = field(default_factory=dict)
    monthly_capacity: float | None = None
    unit: str | None = None
    lead_time_days: int | None = None


@dataclass
class CertIn:
    kind: str
    valid_until: date | None = None


@dataclass
class SupplierIn:
    """One supplier profile as the index takes it (from the database or the benchmark)."""

    umkm_id: uuid.UUID
    business_name: str
    latitude: float | None
    longitude: float | None
    active: bool
    lead_time_days: int | None
    certifications: Sequence[CertIn]
    products: Sequence[ProductIn]
    koperasi_id: uuid.UUID | None = None
    cluster_id: uuid.UUID | None = None
    orders_completed: int = 0
    orders_on_time: int = 0
    quantity_received: float = 0.0
    quantity_accepted: float = 0.0


class Vocabulary:
    """str <-> dense int code."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str) -> int:
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.values)
            self.values.append(value)
        return found

    def lookup(self, value: str) -> int | None:
        return self.codes.get(value)


class IdVocabulary:
    """uuid <-> dense int code (koperasi, clusters)."""

    def __init__(self) -> None:
        self.codes: dict[uuid.UUID, int] = {}
        self.values: list[uuid.UUID] = []

    def code(self, value: uuid.UUID | None) -> int:
        if value is None:
            return UNKNOWN
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.values)
            self.values.append(value)
        return found


def product_tokens(p: ProductIn) -> list[str]:
    spec_text = [f"{v}" for v in p.spec.values() if isinstance(v, str | int | float)]
    return keyword_tokens(p.name, *p.keywords, *spec_text)


class SupplierIndex:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        # suppliers
        self.ids: list[uuid.UUID] = []
        self.names: list[str] = []
        self.row_of: dict[uuid.UUID, int] = {}
        self.s_lat = _Growable(np.float64, np.nan)
        self.s_lon = _Growable(np.float64, np.nan)
        self.s_active = _Growable(np.bool_, False)
        self.s_lead = _Growable(np.int32, UNKNOWN)
        self.s_cert = _Growable(np.int32, 0, width=MAX_CERT_KINDS)
        self.s_cert_max = _Growable(np.int32, 0)  # latest validity over every kind
        self.s_perf = _Growable(np.float32, 0.0)
        self.s_on_time = _Growable(np.float32, 0.0)
        self.s_accept = _Growable(np.float32, 0.0)
        self.s_completed = _Growable(np.int32, 0)
        self.s_koperasi = _Growable(np.int32, UNKNOWN)
        self.s_cluster = _Growable(np.int32, UNKNOWN)
        self.s_products: dict[int, np.ndarray] = {}  # product rows of upserted suppliers
        # product rows of bulk-loaded suppliers, CSR: rows _csr_rows[_csr_start[s]:..[s + 1]]
        self._csr_rows = np.empty(0, dtype=np.int64)
        self._csr_start = np.zeros(1, dtype=np.int64)
        # products
        self.p_supplier = _Growable(np.int64, 0)
        self.p_kbli = _Growable(np.int32, 0)
        self.p_capacity = _Growable(np.float64, 0.0)
        self.p_unit = _Growable(np.int32, UNKNOWN)
        self.p_lead = _Growable(np.int32, UNKNOWN)
        self.p_live = _Growable(np.bool_, False)
        self.p_multi = _Growable(np.bool_, False)  # its supplier has several product rows
        self.p_names: list[str] = []
        self.by_kbli = _Postings()
        # KBLI blocks: every column of the live rows at build time, ordered by (KBLI, latitude),
        # so a request's candidates are a contiguous slice (cut to a latitude band by binary
        # search) instead of gathers; rows added later are the per-KBLI tail (gathered).
        self.block: dict[str, np.ndarray] = {}
        self.block_span: dict[int, tuple[int, int]] = {}
        self.block_tail: dict[int, list[np.ndarray]] = {}
        self.by_token = _Postings()
        self.units = Vocabulary()
        self.tokens = Vocabulary()
        self.cert_kinds = Vocabulary()
        self.koperasi = IdVocabulary()
        self.clusters = IdVocabulary()
        self.cluster_operator: dict[int, uuid.UUID] = {}
        self.dead_rows = 0
        self.sync_cursor = 0  # the database transaction id up to which changes are applied

    # --- size --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def product_rows(self) -> int:
        return self.p_supplier.size

    # --- writing -----------------------------------------------------------------------------

    def cert_column(self, kind: str) -> int | None:
        code = self.cert_kinds.lookup(kind.lower())
        if code is None:
            if len(self.cert_kinds.values) >= MAX_CERT_KINDS:
                return None
            code = self.cert_kinds.code(kind.lower())
        return code

    def set_cluster_operator(self, cluster_id: uuid.UUID, anchor_id: uuid.UUID | None) -> None:
        with self.lock:
            code = self.clusters.code(cluster_id)
            if anchor_id is None:
                self.cluster_operator.pop(code, None)
            else:
                self.cluster_operator[code] = anchor_id

    def upsert(self, suppliers: Iterable[SupplierIn]) -> None:
        """Add or replace supplier profiles (their old product rows become tombstones)."""
        with self.lock:
            self.ensure_row_map()
            for s in suppliers:
                self._upsert_one(s)
            if self.dead_rows > 100_000 and self.dead_rows > self.product_rows // 4:
                self.compact()

    def _upsert_one(self, s: SupplierIn) -> None:
        row = self.row_of.get(s.umkm_id)
        if row is None:
            row = len(self.ids)
            self.ids.append(s.umkm_id)
            self.names.append(s.business_name)
            self.row_of[s.umkm_id] = row
            for col in self._supplier_columns():
                col.grow_to(row + 1)
        else:
            self.names[row] = s.business_name
            old = self.products_of(row)
            self.s_products[row] = np.empty(0, dtype=np.int64)
            if len(old):
                self.p_live.data[old] = False
                self.dead_rows += len(old)
        self.s_lat.data[row] = np.nan if s.latitude is None else s.latitude
        self.s_lon.data[row] = np.nan if s.longitude is None else s.longitude
        self.s_active.data[row] = s.active
        self.s_lead.data[row] = UNKNOWN if s.lead_time_days is None else s.lead_time_days
        certs = np.zeros(MAX_CERT_KINDS, dtype=np.int32)
        for c in s.certifications:
            kind = self.cert_column(c.kind)
            if kind is None:
                continue
            until = NO_EXPIRY if c.valid_until is None else day_number(c.valid_until)
            certs[kind] = max(certs[kind], until)
        self.s_cert.data[row] = certs
        self.s_cert_max.data[row] = certs.max()
        perf, on_time, accept = performance_score(
            s.orders_completed, s.orders_on_time, s.quantity_received, s.quantity_accepted
        )
        self.s_perf.data[row] = perf
        self.s_on_time.data[row] = on_time
        self.s_accept.data[row] = accept
        self.s_completed.data[row] = s.orders_completed
        self.s_koperasi.data[row] = self.koperasi.code(s.koperasi_id)
        self.s_cluster.data[row] = self.clusters.code(s.cluster_id)
        products = [p for p in s.products if p.kbli_code.isdigit()]
        if not products:
            return
        start = self.p_supplier.size
        rows = np.arange(start, start + len(products), dtype=np.int64)
        self.p_supplier.extend([row] * len(products))
        self.p_kbli.extend([int(p.kbli_code) for p in products])
        self.p_capacity.extend(
            [p.monthly_capacity if p.monthly_capacity is not None else 0.0 for p in products]
        )
        self.p_unit.extend(
            [self.units.code(normalise_unit(p.unit)) if p.unit else UNKNOWN for p in products]
        )
        self.p_lead.extend(
            [p.lead_time_days if p.lead_time_days is not None else UNKNOWN for p in products]
        )
        self.p_live.extend([True] * len(products))
        self.p_multi.extend([len(products) > 1] * len(products))
        self.p_names.extend(p.name for p in products)
        self.s_products[row] = rows
        for r, p in zip(rows, products, strict=True):
            one = np.array([r], dtype=np.int64)
            self.by_kbli.add(int(p.kbli_code), one)
            self.block_tail.setdefault(int(p.kbli_code), []).append(one)
            for token in product_tokens(p):
                self.by_token.add(self.tokens.code(token), one)

    def columns(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Every matching column of product `rows` (gathered from the row and supplier arrays)."""
        sup = self.p_supplier.data[rows]
        lead = self.p_lead.data[rows]
        return {
            "rows": rows,
            "sup": sup,
            "unit": self.p_unit.data[rows],
            "cap": self.p_capacity.data[rows],
            "lead": np.where(lead >= 0, lead, self.s_lead.data[sup]),
            "lat": self.s_lat.data[sup],
            "lon": self.s_lon.data[sup],
            "active": self.s_active.data[sup],
            "cert_max": self.s_cert_max.data[sup],
            "perf": self.s_perf.data[sup],
            "cluster": self.s_cluster.data[sup],
            "koperasi": self.s_koperasi.data[sup],
        }

    def build_blocks(self) -> None:
        """Lay the live rows out by (KBLI, latitude); later rows go to the tail."""
        with self.lock:
            live = np.flatnonzero(self.p_live.view)
            kbli = self.p_kbli.data[live]
            lat = self.s_lat.data[self.p_supplier.data[live]]
            sup = self.p_supplier.data[live]
            # (KBLI, latitude, supplier): one supplier's rows of a code are adjacent
            order = live[np.lexsort((sup, lat, kbli))]
            self.block = self.columns(order)
            keys = self.p_kbli.data[order]
            uniq, starts = np.unique(keys, return_index=True)
            ends = np.append(starts[1:], len(keys))[: len(starts)]
            self.block_span = {
                int(k): (int(a), int(b)) for k, a, b in zip(uniq, starts, ends, strict=True)
            }
            self.block_tail = {}

    def kbli_candidates(
        self, code: int, lat_band: tuple[float, float] | None
    ) -> tuple[dict[str, np.ndarray], bool]:
        """Columns of the rows of one KBLI code (within the latitude band, if given), and
        whether one supplier's rows are adjacent (true without a tail)."""
        parts = []
        span = self.block_span.get(code)
        if span is not None:
            a, b = span
            if lat_band is not None:
                lats = self.block["lat"][a:b]
                a, b = (
                    a + int(np.searchsorted(lats, lat_band[0], side="left")),
                    a + int(np.searchsorted(lats, lat_band[1], side="right")),
                )
            parts.append({k: v[a:b] for k, v in self.block.items()})
        tail = self.block_tail.get(code)
        if tail:
            parts.append(self.columns(np.concatenate(tail)))
        if not parts:
            return self.columns(np.empty(0, dtype=np.int64)), True
        if len(parts) == 1:
            return parts[0], not tail
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, False

    def products_of(self, row: int) -> np.ndarray:
        """Product rows of supplier `row` (live and, until compaction, tombstoned)."""
        found = self.s_products.get(row)
        if found is not None:
            return found
        if row + 1 < len(self._csr_start):
            return self._csr_rows[self._csr_start[row] : self._csr_start[row + 1]]
        return np.empty(0, dtype=np.int64)

    def _supplier_columns(self) -> list[_Growable]:
        return [
            self.s_lat,
            self.s_lon,
            self.s_active,
            self.s_lead,
            self.s_cert,
            self.s_cert_max,
            self.s_perf,
            self.s_on_time,
            self.s_accept,
            self.s_completed,
            self.s_koperasi,
            self.s_cluster,
        ]

    def compact(self) -> None:
        """Drop tombstoned product rows and rebuild the postings (O(rows), vectorised)."""
        with self.lock:
            live = np.flatnonzero(self.p_live.view)
            remap = np.full(self.product_rows, -1, dtype=np.int64)
            remap[live] = np.arange(len(live))
            for col in (
                self.p_supplier,
                self.p_kbli,
                self.p_capacity,
                self.p_unit,
                self.p_lead,
                self.p_live,
                self.p_multi,
            ):
                kept = col.view[live].copy()
                col.size = 0
                col.extend(kept)
            self.p_names = [self.p_names[i] for i in live.tolist()]
            self.s_products = {
                s: remap[rows][remap[rows] >= 0] for s, rows in self.s_products.items()
            }
            if len(self._csr_rows):  # tombstoned rows of bulk-loaded suppliers are overridden
                self._csr_rows = np.maximum(remap[self._csr_rows], 0)
            old_kbli, old_tokens = self.by_kbli, self.by_token
            self.by_kbli, self.by_token = _Postings(), _Postings()
            for store, old in ((self.by_kbli, old_kbli), (self.by_token, old_tokens)):
                for key in list(old.chunks):
                    rows = remap[old.get(key)]
                    rows = rows[rows >= 0]
                    if len(rows):
                        store.add(key, rows)
            self.build_blocks()
            self.dead_rows = 0

    # --- bulk build (benchmark and first load) -----------------------------------------------

    def bulk_load(
        self,
        *,
        ids: Sequence[uuid.UUID],
        names: Sequence[str],
        lat: np.ndarray,
        lon: np.ndarray,
        lead: np.ndarray,
        cert_until: dict[str, np.ndarray],
        perf: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        koperasi: np.ndarray,
        cluster: np.ndarray,
        p_supplier: np.ndarray,
        p_kbli: np.ndarray,
        p_capacity: np.ndarray,
        p_unit: Sequence[str] | np.ndarray,
        p_lead: np.ndarray,
        p_names: Sequence[str],
        token_rows: np.ndarray,
        token_values: Sequence[str],
        token_codes: np.ndarray,
        koperasi_ids: Sequence[uuid.UUID] = (),
        cluster_ids: Sequence[uuid.UUID] = (),
        active: np.ndarray | None = None,
    ) -> None:
        """Replace the content with column arrays (vectorised; 1M profiles in seconds).

        `koperasi`/`cluster` are codes into `koperasi_ids`/`cluster_ids` (-1 for none);
        `perf` is (completed, on_time, received, accepted); tokens are (row, code) pairs with
        `token_values[code]` the token text; `p_unit` holds unit codes if an int array, else
        unit strings.
        """
        with self.lock:
            self._reset()
            n = len(ids)
            self.ids = list(ids)
            self.names = list(names)
            self.row_of = {}  # built lazily by ensure_row_map()
            self.s_lat.extend(lat)
            self.s_lon.extend(lon)
            self.s_active.extend(np.ones(n, dtype=np.bool_) if active is None else active)
            self.s_lead.extend(lead)
            self.s_cert.reserve(n)
            self.s_cert.size = n
            self.s_cert.data[:n] = 0
            for kind, until in cert_until.items():
                col = self.cert_column(kind)
                if col is not None:
                    self.s_cert.data[:n, col] = until
            self.s_cert_max.extend(self.s_cert.data[:n].max(axis=1))
            completed, on_time, received, accepted = perf
            prior_w = 2.0
            on_time_rate = (on_time + 0.8 * prior_w) / (completed + prior_w)
            weight = prior_w * np.where(completed > 0, received / np.maximum(completed, 1), 0)
            acceptance = np.where(
                received > 0, (accepted + 0.8 * weight) / np.maximum(received + weight, 1e-9), 0.8
            )
            self.s_perf.extend((on_time_rate + acceptance) / 2)
            self.s_on_time.extend(on_time_rate)
            self.s_accept.extend(acceptance)
            self.s_completed.extend(completed)
            for k in koperasi_ids:
                self.koperasi.code(k)
            for c in cluster_ids:
                self.clusters.code(c)
            self.s_koperasi.extend(koperasi)
            self.s_cluster.extend(cluster)
            self.p_supplier.extend(p_supplier)
            self.p_kbli.extend(p_kbli)
            self.p_capacity.extend(p_capacity)
            if isinstance(p_unit, np.ndarray) and p_unit.dtype.kind in "iu":
                self.p_unit.extend(p_unit)
            else:
                values, inverse = np.unique(np.asarray(p_unit, dtype=str), return_inverse=True)
                codes = np.array([self.units.code(normalise_unit(str(u))) for u in values])
                self.p_unit.extend(codes[inverse] if len(values) else [])
            self.p_lead.extend(p_lead)
            self.p_live.extend(np.ones(len(p_supplier), dtype=np.bool_))
            self.p_names = list(p_names)
            rows = np.arange(len(p_supplier), dtype=np.int64)
            self._csr_rows = np.argsort(p_supplier, kind="stable").astype(np.int64)
            counts = np.bincount(p_supplier, minlength=n)
            self._csr_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
            self.p_multi.extend(counts[p_supplier] > 1)
            self.by_kbli.bulk(np.asarray(p_kbli, dtype=np.int64), rows)
            self.build_blocks()
            for value in token_values:
                self.tokens.code(value)
            self.by_token.bulk(np.asarray(token_codes, dtype=np.int64), token_rows)

    def ensure_row_map(self) -> None:
        if len(self.row_of) != len(self.ids):
            self.row_of = {u: i for i, u in enumerate(self.ids)}
