"""The columns an import file may have: field keys, the headers Dinas write for them (Indonesian
and English), and how a file's header row is mapped onto fields.

Header matching ignores case, accents, punctuation, spacing and a currency marker, so
`Modal Usaha (Rp)`, `MODAL USAHA` and `modal_usaha` are the same header. An upload can override
the mapping (`{"header in the file": "field" | null}`); null ignores a column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the Indonesian header our documentation and templates use
    description: str
    aliases: tuple[str, ...]


COLUMNS: tuple[Column, ...] = (
    Column("business_name", "Nama Usaha", "Business name (required)",
           ("nama usaha", "nama umkm", "nama perusahaan", "nama toko", "nama unit usaha",
            "usaha", "business name", "business", "company name")),
    Column("owner_name", "Nama Pemilik", "Owner's name (required)",
           ("nama pemilik", "pemilik", "nama pemilik usaha", "nama lengkap pemilik",
            "owner name", "owner")),
    Column("owner_nik", "NIK Pemilik", "Owner's NIK, 16 digits (required)",
           ("nik pemilik", "nik", "nik ktp", "no ktp", "nomor ktp", "no nik", "nomor nik",
            "nomor induk kependudukan", "owner nik", "national id")),
    Column("nib", "NIB", "Nomor Induk Berusaha, 13 digits",
           ("nib", "no nib", "nomor nib", "nomor induk berusaha", "business id number")),
    Column("npwp", "NPWP", "NPWP, 16 digits or the legacy 15",
           ("npwp", "no npwp", "nomor npwp", "tax id", "taxpayer id")),
    Column("kbli", "Kode KBLI", "KBLI 2020 code, 5 digits preferred (required)",
           ("kode kbli", "kbli", "kbli 2020", "kode kbli 2020", "kbli code")),
    Column("address", "Alamat", "Street address",
           ("alamat", "alamat usaha", "alamat lengkap", "alamat tempat usaha", "address",
            "business address")),
    Column("village", "Desa/Kelurahan", "Desa/kelurahan name (or give Kode Wilayah)",
           ("desa kelurahan", "kelurahan desa", "desa kel", "kel desa", "desa", "kelurahan",
            "village")),
    Column("district", "Kecamatan", "Kecamatan name",
           ("kecamatan", "kec", "district", "sub district", "subdistrict")),
    Column("regency", "Kabupaten/Kota", "Kabupaten/kota name",
           ("kabupaten kota", "kab kota", "kota kabupaten", "kabupaten", "kota",
            "regency city", "regency", "city")),
    Column("province", "Provinsi", "Province name",
           ("provinsi", "propinsi", "province")),
    Column("region_code", "Kode Wilayah", "Kemendagri desa/kelurahan code, dots optional",
           ("kode wilayah", "kode desa", "kode desa kelurahan", "kode kelurahan",
            "kode kemendagri", "region code", "village code", "wilayah code")),
    Column("latitude", "Latitude", "Decimal degrees (with Longitude)",
           ("latitude", "lat", "lintang")),
    Column("longitude", "Longitude", "Decimal degrees (with Latitude)",
           ("longitude", "lng", "lon", "long", "bujur")),
    Column("capital", "Modal Usaha", "Capital in Rupiah, excluding land and buildings",
           ("modal usaha", "modal", "modal awal", "aset", "capital", "business capital")),
    Column("annual_sales", "Omzet per Tahun", "Annual sales in Rupiah",
           ("omzet per tahun", "omzet", "omset", "omset per tahun", "omzet tahunan",
            "omset tahunan", "penjualan per tahun", "penjualan tahunan", "annual sales",
            "annual turnover", "turnover", "revenue")),
    Column("workforce", "Jumlah Tenaga Kerja", "Number of workers",
           ("jumlah tenaga kerja", "tenaga kerja", "jumlah karyawan", "karyawan",
            "jumlah pekerja", "workforce", "employees", "number of employees")),
    Column("founded_on", "Tanggal Berdiri", "Founding date, DD/MM/YYYY",
           ("tanggal berdiri", "tgl berdiri", "tanggal pendirian", "tanggal mulai usaha",
            "mulai usaha", "founded on", "founded", "date founded", "founding date")),
    Column("products", "Produk", "Products, separated by commas or semicolons",
           ("produk", "produk utama", "jenis produk", "products", "product", "main products")),
    Column("certifications", "Sertifikat", "Certificates, e.g. 'Halal ID32... s.d. 01/01/2028'",
           ("sertifikat", "sertifikasi", "sertifikat usaha", "certifications", "certificates",
            "certification")),
)  # fmt: skip

FIELDS: tuple[str, ...] = tuple(c.key for c in COLUMNS)
BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_NOISE = frozenset({"rp", "idr", "rupiah"})


def fold_header(text: str) -> str:
    """`Modal Usaha (Rp)` -> `modal usaha`: case, accents, punctuation and currency ignored."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\ufeff", ""))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = [w for w in _NON_ALNUM.sub(" ", plain).split() if w not in _NOISE]
    return " ".join(words)


_ALIASES: dict[str, str] = {}
for _col in COLUMNS:
    for _alias in (_col.label, _col.key.replace("_", " "), *_col.aliases):
        _ALIASES.setdefault(fold_header(_alias), _col.key)


def field_of(header: str) -> str | None:
    return _ALIASES.get(fold_header(header))


@dataclass
class ColumnPlan:
    """Which column of the file holds which field, and what was left out."""

    headers: list[str]
    index: dict[str, int]  # field -> position in a row
    ignored: list[str] = field(default_factory=list)  # headers that map to nothing
    repeated: list[str] = field(default_factory=list)  # later headers of an already-mapped field
    unused_mapping: list[str] = field(default_factory=list)  # override entries not in the file

    def header_of(self, key: str) -> str:
        i = self.index.get(key)
        return self.headers[i] if i is not None else BY_KEY[key].label

    def as_map(self) -> dict[str, str]:
        return {self.headers[i]: key for key, i in sorted(self.index.items(), key=lambda kv: kv[1])}


def plan_columns(
    headers: Sequence[str], override: Mapping[str, str | None] | None = None
) -> ColumnPlan:
    """Map a header row onto fields: the override first (by exact header, then folded), then
    the aliases. The first column of a field wins; later ones are reported as repeated."""
    override = dict(override or {})
    folded_override = {fold_header(h): f for h, f in override.items()}
    used: set[str] = set()
    plan = ColumnPlan(headers=[str(h) if h is not None else "" for h in headers], index={})
    for i, header in enumerate(plan.headers):
        if not header.strip():
            continue
        if header in override:
            used.add(header)
            key = override[header]
        elif (f := fold_header(header)) in folded_override:
            used.update(h for h in override if fold_header(h) == f)
            key = folded_override[f]
        else:
            key = field_of(header)
        if key is None:
            plan.ignored.append(header)
        elif key in plan.index:
            plan.repeated.append(header)
        else:
            plan.index[key] = i
    plan.unused_mapping = sorted(h for h in override if h not in used)
    return plan


def header_score(cells: Sequence[object]) -> int:
    """How many cells of a row look like known headers (to find the header row under a
    title row or two, as spreadsheets often have)."""
    return len({field_of(c) for c in cells if isinstance(c, str) and field_of(c)})


def missing_required(plan: ColumnPlan) -> list[str]:
    """Human-readable list of required columns the file lacks (empty: fine)."""
    have = plan.index
    missing = [
        f"{BY_KEY[k].label} ({k})"
        for k in ("business_name", "owner_name", "owner_nik", "kbli")
        if k not in have
    ]
    if "region_code" not in have and "village" not in have:
        missing.append("Kode Wilayah (region_code) or Desa/Kelurahan (village) with Kecamatan")
    if "capital" not in have and "annual_sales" not in have:
        missing.append("Modal Usaha (capital) or Omzet per Tahun (annual_sales)")
    return missing
