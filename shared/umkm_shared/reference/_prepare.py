"""Development-time script: rebuild `data/` from the raw reference CSVs, with documented repairs.

    uv run python -m umkm_shared.reference._prepare /path/to/raw/data

Never imported by the package. Every change to the source data is made here and listed in
NOTICE.md; the product reads only the files this writes.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import statistics
import sys
from pathlib import Path

OUT = Path(__file__).parent / "data"

# Golongan rows missing from the source's JSON copy of KBLI 2020 (their subgolongan were attached to
# the previous golongan). Titles reconstructed: not verified against the Peraturan BPS 2/2020 annex.
KBLI_MISSING_GOLONGAN = {
    "151": "INDUSTRI KULIT DAN BARANG DARI KULIT, TERMASUK KULIT BUATAN",
    "331": "REPARASI PRODUK LOGAM PABRIKASI, MESIN DAN PERALATAN",
    "511": "ANGKUTAN UDARA UNTUK PENUMPANG",
    "512": "ANGKUTAN UDARA UNTUK KARGO",
    "662": "AKTIVITAS PENUNJANG ASURANSI, PENJAMINAN DAN DANA PENSIUN",
    "872": (
        "AKTIVITAS SOSIAL DI DALAM PANTI UNTUK KETERBELAKANGAN MENTAL, GANGGUAN MENTAL DAN "
        "PENYALAHGUNAAN OBAT TERLARANG"
    ),
}


def _read(src: Path, name: str) -> list[dict[str, str]]:
    with open(src / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(name: str, rows: list[dict[str, str]], gz: bool = False) -> None:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    if gz:
        with gzip.GzipFile(OUT / (name + ".gz"), "wb", compresslevel=9, mtime=0) as f:
            f.write(data)
    else:
        (OUT / name).write_bytes(data)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def prepare_wilayah(src: Path) -> dict[str, str]:
    rows = _read(src, "wilayah_2025.csv")
    for row in rows:
        row["name"] = _squash(row["name"])  # 5 names had trailing or doubled spaces
    _write("wilayah_2025.csv", rows, gz=True)
    return {row["code"]: row["name"] for row in rows}


def prepare_stats(src: Path, codes: dict[str, str]) -> dict[str, float]:
    area = _read(src, "area_2025.csv")
    for row in area:
        row["name"] = _squash(row["name"])
        if row["code"] == "31.0":  # DKI Jakarta
            row["code"] = "31"
        elif len(row["code"]) == 4:  # trailing zero lost in the source: 11.1 -> 11.10
            row["code"] += "0"
    assert {row["code"] for row in area} <= codes.keys() and len(area) == 552
    _write("area_2025.csv", area)

    population = _read(src, "population_2025.csv")
    for row in population:
        row["name"] = _squash(row["name"])
    assert {row["code"] for row in population} <= codes.keys()
    _write("population_2025.csv", population)
    return {row["code"]: float(row["area_km2"]) for row in area}


def prepare_centroids(src: Path, area: dict[str, float], names: dict[str, str]) -> None:
    """Drop centre points that cannot be right and derive the missing upper-level ones.

    "Far" means farther than 3 x the radius of a disc of the region's land area plus a margin.
    - A kabupaten/kota point far (+100 km) from most of its kecamatan points (at least 3) is
      replaced by the median of its kecamatan points (derived=1).
    - A kecamatan point far (+30 km) from its kabupaten/kota point is dropped (the loader falls
      back to the kabupaten/kota point).
    - A province point far (+100 km) from the mean of its kabupaten/kota points, or missing (the
      four newest Papua provinces), is replaced by that mean (derived=1).
    """
    rows = _read(src, "centroids_2025.csv")
    point = {r["code"]: (float(r["lat"]), float(r["lng"])) for r in rows}
    derived: set[str] = set()

    def radius(code: str) -> float:
        return math.sqrt(area[code] / math.pi)

    def far(a: tuple[float, float], b: tuple[float, float], region: str, margin: float) -> bool:
        return _km(a, b) > 3 * radius(region) + margin

    def level_codes(level: int) -> list[str]:
        return [c for c in point if c.count(".") + 1 == level]

    dropped_kecamatan = []
    for kab in level_codes(2):
        inside = [c for c in level_codes(3) if c[:5] == kab]
        if (
            len(inside) >= 3
            and sum(far(point[kab], point[c], kab, 100) for c in inside) > len(inside) / 2
        ):
            point[kab] = (
                statistics.median(point[c][0] for c in inside),
                statistics.median(point[c][1] for c in inside),
            )
            derived.add(kab)
        for code in inside:
            if far(point[code], point[kab], kab, 30):
                dropped_kecamatan.append(code)
                del point[code]
    for province in sorted({c[:2] for c in names if "." not in c}):
        kab_points = [point[k] for k in level_codes(2) if k[:2] == province]
        mean = (
            sum(p[0] for p in kab_points) / len(kab_points),
            sum(p[1] for p in kab_points) / len(kab_points),
        )
        if province not in point or far(point[province], mean, province, 100):
            point[province] = mean
            derived.add(province)
    print("centroids: derived", sorted(derived))
    print("centroids: dropped", len(dropped_kecamatan), "kecamatan points")
    out = [
        {
            "code": code,
            "name": names[code],
            "level": str(code.count(".") + 1),
            "lat": f"{lat:.5f}",
            "lng": f"{lng:.5f}",
            "derived": "1" if code in derived else "0",
        }
        for code, (lat, lng) in sorted(point.items())
    ]
    _write("centroids_2025.csv", out)


def prepare_kbli(src: Path) -> None:
    rows = _read(src, "kbli_2020.csv")
    out: list[dict[str, str]] = []
    first_8421 = True
    missing = dict(KBLI_MISSING_GOLONGAN)
    for row in rows:
        if row["code"] == "8421" and first_8421:
            # The source has two "8421" rows; the first is golongan 842 (its title and its
            # "Golongan ini mencakup ..." description).
            first_8421 = False
            assert row["description"].startswith("Golongan ini")
            row.update(code="842", level="golongan", parent="84")
        if row["level"] == "subgolongan":
            golongan = row["code"][:3]
            row["parent"] = golongan
            if golongan in missing:
                out.append(
                    {
                        "code": golongan,
                        "level": "golongan",
                        "section": row["section"],
                        "parent": golongan[:2],
                        "title": missing.pop(golongan),
                        "description": "",
                    }
                )
        out.append(row)
    assert not missing
    codes = {row["code"] for row in out}
    assert len(codes) == len(out) == 2711
    for row in out:
        if row["level"] in ("golongan", "subgolongan", "kelompok"):
            assert row["parent"] == row["code"][:-1] and row["parent"] in codes, row
    _write("kbli_2020.csv", out, gz=True)


def main(src: Path) -> None:
    OUT.mkdir(exist_ok=True)
    names = prepare_wilayah(src)
    area = prepare_stats(src, names)
    prepare_centroids(src, area, names)
    prepare_kbli(src)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
