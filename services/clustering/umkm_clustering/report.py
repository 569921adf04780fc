"""The quality report of a formation run (JSON) and its self-contained HTML page with an SVG
map of cluster centres over Indonesia's bounding box (no tiles, no network)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import numpy.typing as npt

from .geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN, distance_km


def quality(
    label: npt.NDArray[np.int64],
    own_sector: npt.NDArray[np.int64],
    cluster_sector: npt.NDArray[np.int64],
    regency: npt.NDArray[np.int64],
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    min_size: int,
    max_size: int,
) -> dict[str, Any]:
    """Figures over the clusters that have members (label: cluster index per member)."""
    count = int(cluster_sector.shape[0])
    sizes = np.bincount(label, minlength=count)
    used = sizes > 0
    if not used.any():
        return {"clusters": 0, "members": 0}
    d = np.maximum(sizes, 1)
    clat = np.bincount(label, weights=lat, minlength=count) / d
    clon = np.bincount(label, weights=lon, minlength=count) / d
    dist = distance_km(lat, lon, clat[label], clon[label])
    within = (sizes[label] >= min_size) & (sizes[label] <= max_size)
    pure = own_sector == cluster_sector[label]
    # dominant kab/kota per cluster: the most frequent (cluster, regency) pair
    pair = label.astype(np.int64) * 100_000 + regency
    uniq, counts = np.unique(pair, return_counts=True)
    cl = uniq // 100_000
    dominant = np.zeros(count, dtype=np.int64)
    np.maximum.at(dominant, cl, counts)
    s = sizes[used]
    return {
        "clusters": int(used.sum()),
        "members": int(label.shape[0]),
        "size": {"min": int(s.min()), "max": int(s.max()), "mean": float(s.mean())},
        "share_members_within_bounds": float(within.mean()),
        "clusters_within_bounds": int(((s >= min_size) & (s <= max_size)).sum()),
        "compactness_km": {
            "mean": float(dist.mean()),
            "p95": float(np.percentile(dist, 95)),
        },
        "sector_purity": float(pure.mean()),
        "share_in_dominant_regency": float(dominant.sum() / label.shape[0]),
    }


def _x(lon: float, width: float) -> float:
    return (lon - LON_MIN) / (LON_MAX - LON_MIN) * width


def _y(lat: float, height: float) -> float:
    return (LAT_MAX - lat) / (LAT_MAX - LAT_MIN) * height


def render_html(run: dict[str, Any], report: dict[str, Any], centres: list[dict[str, Any]]) -> str:
    """One page: the figures, the undersized groups and a map of centres (SVG)."""
    width, height = 1000.0, 1000.0 * (LAT_MAX - LAT_MIN) / (LON_MAX - LON_MIN) * 1.0
    q = report.get("quality", {})
    biggest = max((c["member_count"] for c in centres), default=1) or 1
    dots = []
    for c in centres:
        if c["centre_lat"] is None:
            continue
        r = 1.5 + 5.0 * (c["member_count"] / biggest) ** 0.5
        colour = "#c0392b" if c["status"] == "forming" else "#1f6feb"
        title = html.escape(f"{c['code']} ({c['sector_code']}): {c['member_count']} members")
        dots.append(
            f'<circle cx="{_x(c["centre_lon"], width):.1f}" cy="{_y(c["centre_lat"], height):.1f}"'
            f' r="{r:.1f}" fill="{colour}" fill-opacity="0.6"><title>{title}</title></circle>'
        )
    grid = []
    for lon in range(95, 142, 5):
        grid.append(
            f'<line x1="{_x(lon, width):.1f}" y1="0" x2="{_x(lon, width):.1f}" '
            f'y2="{height:.1f}" stroke="#ddd"/><text x="{_x(lon, width) + 2:.1f}" '
            f'y="{height - 4:.1f}" font-size="10" fill="#888">{lon}°E</text>'
        )
    for lat in range(-10, 7, 5):
        grid.append(
            f'<line x1="0" y1="{_y(lat, height):.1f}" x2="{width:.1f}" y2="{_y(lat, height):.1f}" '
            f'stroke="{"#aaa" if lat == 0 else "#ddd"}"/><text x="2" y="{_y(lat, height) - 2:.1f}"'
            f' font-size="10" fill="#888">{lat}°</text>'
        )
    rows = "".join(
        f"<tr><td>{html.escape(str(u.get('sector')))}</td><td>{html.escape(str(u.get('province')))}"
        f"</td><td>{u.get('members')}</td><td>{html.escape(str(u.get('action')))}</td></tr>"
        for u in report.get("undersized_groups", [])
    )
    size = q.get("size", {})
    comp = q.get("compactness_km", {})
    figures = [
        ("Clusters", q.get("clusters")),
        ("Members", q.get("members")),
        (
            "Size min / max / mean",
            f"{size.get('min')} / {size.get('max')} / {size.get('mean', 0):.0f}",
        ),
        ("Members in clusters within bounds", f"{q.get('share_members_within_bounds', 0):.2%}"),
        (
            "Distance to centre, mean / p95 (km)",
            f"{comp.get('mean', 0):.1f} / {comp.get('p95', 0):.1f}",
        ),
        ("Sector purity", f"{q.get('sector_purity', 0):.2%}"),
        ("Share in dominant kab/kota", f"{q.get('share_in_dominant_regency', 0):.2%}"),
        (
            "Members kept / moved / new",
            f"{report.get('kept')} / {report.get('moved')} / {report.get('new_members')}",
        ),
    ]
    fig_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in figures
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Formation run {html.escape(str(run["id"]))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
svg{{border:1px solid #999;background:#f4f8fb}}</style></head>
<body><h1>Cluster formation run</h1>
<p>Run <code>{html.escape(str(run["id"]))}</code>, status {html.escape(str(run["status"]))},
bounds {report.get("params", {}).get("min_size")}&ndash;{report.get("params", {}).get("max_size")}
members, taxonomy version {report.get("taxonomy_version")}.</p>
<table>{fig_rows}</table>
<h2>Cluster centres</h2>
<p>Blue: active; red: forming (undersized). Area grows with members.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"
 viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="Map of cluster centres">
{"".join(grid)}{"".join(dots)}</svg>
<h2>Undersized groups</h2>
<table><tr><th>Sector</th><th>Province</th><th>UMKM</th><th>Handled by</th></tr>{rows}</table>
</body></html>"""
