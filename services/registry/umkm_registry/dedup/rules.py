"""Dedup rules as plain functions (no I/O): when two records may be one business, how similar
their names are, and what a survivor takes over from the record merged into it.

The rules (docs/dedup.md):

- The same NIB is the same business: enforced when writing (`umkm_nib`), never a candidate.
- Two different NIBs are two businesses by law: never a candidate, never merged.
- Otherwise (at least one side without NIB), the same owner NIK (keyed hash) in the same desa
  with names at least `CANDIDATE_THRESHOLD` similar is a *candidate* for review. Nothing is ever
  merged automatically: a Dinas (or the ministry) decides.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rapidfuzz import fuzz

# token_set_ratio of the normalised names, 0-100. Measured on typical pairs (docs/dedup.md):
# typos, dropped or added words ("UD", "Toko", "Bu"), reordered words score 90-100; the same
# owner's other businesses in the desa ("Warung Bu Sri" / "Laundry Bu Sri": 74,
# "Warung Nasi Ibu Ani" / "Warung Kopi Ibu Ani": 84.8) stay below.
CANDIDATE_THRESHOLD = 85.0
SCORER = "token_set_ratio"

# Legal-form words that say nothing about which business it is.
_FORM_WORDS = frozenset({"ud", "cv", "pt", "pd", "tbk", "persero", "perum", "firma", "fa"})
_NON_WORD = re.compile(r"[\W_]+")

# Upper bounds of the record's list fields (schemas.UmkmFields).
MAX_PRODUCTS = 100
MAX_CERTIFICATIONS = 50
MAX_KBLI_OTHERS = 20


def normalise_name(name: str) -> str:
    """Lower case, accents and punctuation removed, legal-form words dropped, single spaces."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = _NON_WORD.sub(" ", text).split()
    kept = [w for w in words if w not in _FORM_WORDS]
    return " ".join(kept or words)


def name_similarity(a: str, b: str) -> float:
    """How alike two business names are, 0-100 (rounded to one decimal).

    token_set_ratio compares the words both names share with each name's rest, so word order
    and an extra or missing word do not count against a match, while typos lower it gradually.
    """
    return round(float(fuzz.token_set_ratio(normalise_name(a), normalise_name(b))), 1)


def is_candidate_pair(nib_a: str | None, nib_b: str | None, score: float) -> bool:
    """The pair (already: same owner NIK hash, same desa, both active) goes to review?"""
    if nib_a and nib_b:
        return False  # two NIBs: two businesses (and one NIB twice cannot exist)
    return score >= CANDIDATE_THRESHOLD


def reason_of(nib_a: str | None, nib_b: str | None, score: float) -> str:
    nibs = "neither has an NIB" if not (nib_a or nib_b) else "only one has an NIB"
    return f"same owner NIK and desa; {nibs}; business names {score:g}% alike ({SCORER})"


def _union(items: list[Any], more: list[Any], key: Any, limit: int) -> list[Any]:
    seen = {key(i) for i in items}
    out = list(items)
    for item in more:
        k = key(item)
        if k not in seen and len(out) < limit:
            seen.add(k)
            out.append(item)
    return out


def merge_fill(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """The patch (UmkmPatch fields, JSON-ready) that gives the survivor what the merged record
    had and it lacked: empty fields are filled, lists are united; nothing the survivor has is
    overwritten. Both arguments are rows as dicts of columns."""
    fill: dict[str, Any] = {}
    for name in (
        "nib",
        "npwp",
        "address",
        "capital_idr",
        "annual_sales_idr",
        "workforce",
        "founded_on",
    ):
        if survivor[name] is None and merged[name] is not None:
            value = merged[name]
            fill[name] = value.isoformat() if name == "founded_on" else value
    if (
        survivor["location_approximate"]
        and not merged["location_approximate"]
        and merged["latitude"] is not None
        and merged["longitude"] is not None
    ):
        fill["latitude"], fill["longitude"] = merged["latitude"], merged["longitude"]

    products = _union(
        list(survivor["products"]), list(merged["products"]), lambda p: p.casefold(), MAX_PRODUCTS
    )
    if products != list(survivor["products"]):
        fill["products"] = products

    certs = _union(
        list(survivor["certifications"]),
        list(merged["certifications"]),
        lambda c: (c.get("kind"), (c.get("number") or "").strip().upper()),
        MAX_CERTIFICATIONS,
    )
    if certs != list(survivor["certifications"]):
        fill["certifications"] = certs

    primary = (survivor["kbli_version"], survivor["kbli_code"])
    own = [k for k in survivor["kbli_others"] if (k["version"], k["code"]) != primary]
    theirs = [{"version": merged["kbli_version"], "code": merged["kbli_code"]}]
    theirs += list(merged["kbli_others"])
    others = _union(
        own,
        [k for k in theirs if (k["version"], k["code"]) != primary],
        lambda k: (k["version"], k["code"]),
        MAX_KBLI_OTHERS,
    )
    if others != list(survivor["kbli_others"]):
        fill["kbli_others"] = others
    return fill
