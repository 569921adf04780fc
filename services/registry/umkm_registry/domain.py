"""Registry rules as plain functions with no I/O: what a record's derived fields are,
how its scale follows from capital and sales, and what a change touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from umkm_shared import reference
from umkm_shared.errors import PreconditionFailed, invalid
from umkm_shared.scale import classify_scale

from .schemas import UmkmCreate, UmkmPatch


@dataclass(frozen=True)
class WilayahParts:
    province_code: str
    regency_code: str
    district_code: str
    village_code: str

    @classmethod
    def of_village(cls, village_code: str) -> WilayahParts:
        p = village_code.split(".")
        return cls(p[0], ".".join(p[:2]), ".".join(p[:3]), village_code)


def search_text(name: str) -> str:
    """What trigram search matches against: lower case, single spaces."""
    return " ".join(name.lower().split())


def locate(
    village_code: str, latitude: float | None, longitude: float | None
) -> tuple[float | None, float | None, bool]:
    """The business's own point when given, else its kecamatan's centre (flagged approximate)."""
    if latitude is not None and longitude is not None:
        return latitude, longitude, False
    point = reference.centroids().point(WilayahParts.of_village(village_code).district_code)
    if point is None:
        return None, None, True
    return point.lat, point.lng, True


def scale_of(capital_idr: int | None, annual_sales_idr: int | None) -> tuple[str, str]:
    """(scale, basis) under PP 7/2021."""
    result = classify_scale(capital_idr, annual_sales_idr)
    return str(result.scale), str(result.basis)


def new_record_fields(body: UmkmCreate) -> dict[str, Any]:
    """Column values for a new UMKM, except id, NIK cipher/hash/mask and audit columns."""
    parts = WilayahParts.of_village(body.village_code)
    lat, lng, approx = locate(body.village_code, body.latitude, body.longitude)
    scale, _ = scale_of(body.capital_idr, body.annual_sales_idr)
    return {
        "province_code": parts.province_code,
        "regency_code": parts.regency_code,
        "district_code": parts.district_code,
        "village_code": parts.village_code,
        "business_name": body.business_name,
        "business_name_search": search_text(body.business_name),
        "owner_name": body.owner_name,
        "nib": body.nib,
        "npwp": body.npwp,
        "kbli_version": body.kbli.version,
        "kbli_code": body.kbli.code,
        "kbli_others": [k.model_dump() for k in body.kbli_others or []],
        "address": body.address,
        "latitude": lat,
        "longitude": lng,
        "location_approximate": approx,
        "capital_idr": body.capital_idr,
        "annual_sales_idr": body.annual_sales_idr,
        "scale": scale,
        "workforce": body.workforce,
        "founded_on": body.founded_on,
        "products": list(body.products or []),
        "certifications": [c.model_dump(mode="json") for c in body.certifications or []],
    }


# Patch fields that map one-to-one onto a column.
_PLAIN_FIELDS = (
    "business_name",
    "owner_name",
    "nib",
    "npwp",
    "address",
    "capital_idr",
    "annual_sales_idr",
    "workforce",
    "founded_on",
)


def patch_changes(current: dict[str, Any], patch: UmkmPatch) -> dict[str, Any]:
    """Column values that the patch changes (owner_nik is handled by the caller: it is encrypted).

    `current` is the stored row as a dict of columns. Derived columns (wilayah parts,
    location, scale, search text) are recomputed when their inputs change.
    """
    given = patch.model_fields_set
    changes: dict[str, Any] = {}
    for name in _PLAIN_FIELDS:
        if name in given and getattr(patch, name) != current[name]:
            changes[name] = getattr(patch, name)
    if "kbli" in given and patch.kbli is not None:
        if (patch.kbli.version, patch.kbli.code) != (current["kbli_version"], current["kbli_code"]):
            changes["kbli_version"], changes["kbli_code"] = patch.kbli.version, patch.kbli.code
    if "kbli_others" in given:
        others = [k.model_dump() for k in patch.kbli_others or []]
        if others != current["kbli_others"]:
            changes["kbli_others"] = others
    if "products" in given and list(patch.products or []) != current["products"]:
        changes["products"] = list(patch.products or [])
    if "certifications" in given:
        certs = [c.model_dump(mode="json") for c in patch.certifications or []]
        if certs != current["certifications"]:
            changes["certifications"] = certs
    if "business_name" in changes:
        changes["business_name_search"] = search_text(changes["business_name"])

    village = (
        patch.village_code
        if "village_code" in given and patch.village_code
        else current["village_code"]
    )
    if village != current["village_code"]:
        parts = WilayahParts.of_village(village)
        changes.update(
            province_code=parts.province_code,
            regency_code=parts.regency_code,
            district_code=parts.district_code,
            village_code=village,
        )
    coords_given = "latitude" in given
    if coords_given or "village_code" in changes:
        if coords_given:
            lat, lng = patch.latitude, patch.longitude
        elif current["location_approximate"]:
            lat, lng = None, None  # the old point was the old kecamatan's centre
        else:
            lat, lng = current["latitude"], current["longitude"]
        lat, lng, approx = locate(village, lat, lng)
        for col, val in (("latitude", lat), ("longitude", lng), ("location_approximate", approx)):
            if val != current[col]:
                changes[col] = val

    capital = changes.get("capital_idr", current["capital_idr"])
    sales = changes.get("annual_sales_idr", current["annual_sales_idr"])
    if capital is None and sales is None:
        raise invalid(
            "body.capital_idr", "capital_idr or annual_sales_idr is needed to classify the scale"
        )
    scale, _ = scale_of(capital, sales)
    if scale != current["scale"]:
        changes["scale"] = scale
    return changes


def expect_version(current: int, if_match: int | None) -> int:
    """The version to compare-and-set against: `current` when If-Match names it or is `*`
    (None); a stale one is 412 with the current version, so the caller can re-read."""
    if if_match is not None and if_match != current:
        raise PreconditionFailed(
            detail=f"If-Match version {if_match} is stale: the record is at version {current}",
            extra={"current_version": current},
        )
    return current
