"""Events of the registry service (topic `umkm.registry.v1`, key = the UMKM's id).

`UmkmRegistered` and `UmkmUpdated` carry a full `UmkmSnapshot`, so consumers keep their read
models without calling the registry; `umkm.version` grows with every change, which lets a consumer
ignore a snapshot older than the one it holds (at-least-once delivery may repeat an event).
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from umkm_shared.events.base import EventPayload, UtcDatetime

__all__ = [
    "REGISTRY_SOURCE",
    "REGISTRY_TOPIC",
    "Certification",
    "KbliRef",
    "Scale",
    "UmkmDeactivated",
    "UmkmMerged",
    "UmkmRegistered",
    "UmkmScaleChanged",
    "UmkmSnapshot",
    "UmkmStatus",
    "UmkmUpdated",
]

REGISTRY_TOPIC = "umkm.registry.v1"
REGISTRY_SOURCE = "/registry"

Scale = Literal["mikro", "kecil", "menengah", "besar"]
UmkmStatus = Literal["active", "inactive", "merged"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class KbliRef(_Model):
    """A KBLI code with the edition it belongs to (e.g. version "2020", code "10792")."""

    version: str
    code: str


class Certification(_Model):
    """A certificate held by the business (e.g. kind "halal", "pirt", "sni", "bpom")."""

    kind: str
    number: str | None = None
    valid_until: date | None = None


class UmkmSnapshot(_Model):
    """The state of one UMKM record after a change (never the NIK itself)."""

    umkm_id: UUID
    business_name: str
    owner_name: str
    owner_nik_hash: str = Field(description="Keyed hash (hex) of the owner's NIK, for matching")
    owner_nik_masked: str = Field(description="e.g. 3201************")
    nib: str | None = None
    npwp: str | None = None
    kbli_primary: KbliRef
    kbli_others: list[KbliRef] = Field(default_factory=list)
    village_code: str = Field(description="Kemendagri code, dotted (e.g. 32.01.01.2001)")
    district_code: str
    regency_code: str
    province_code: str
    latitude: float | None = None
    longitude: float | None = None
    location_approximate: bool = False
    address: str | None = None
    capital_idr: int | None = Field(default=None, description="Business capital, Rupiah")
    annual_sales_idr: int | None = Field(default=None, description="Annual sales, Rupiah")
    scale: Scale
    workforce: int | None = None
    founded_on: date | None = None
    products: list[str] = Field(default_factory=list)
    certifications: list[Certification] = Field(default_factory=list)
    status: UmkmStatus
    version: int = Field(description="Grows by one with every change of the record")
    registered_at: UtcDatetime
    updated_at: UtcDatetime


class UmkmRegistered(EventPayload):
    """A UMKM was added to the registry."""

    event_type: ClassVar[str] = "id.umkm.registry.umkm.registered"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "umkm.umkm_id"

    umkm: UmkmSnapshot


class UmkmUpdated(EventPayload):
    """A UMKM record changed; `changed_fields` names the snapshot fields that differ."""

    event_type: ClassVar[str] = "id.umkm.registry.umkm.updated"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "umkm.umkm_id"

    umkm: UmkmSnapshot
    changed_fields: list[str]


class UmkmScaleChanged(EventPayload):
    """The scale (mikro/kecil/menengah/besar) of a UMKM changed, or was first set."""

    event_type: ClassVar[str] = "id.umkm.registry.umkm.scale_changed"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "umkm_id"

    umkm_id: UUID
    province_code: str
    previous_scale: Scale | None
    new_scale: Scale
    capital_idr: int | None
    annual_sales_idr: int | None
    changed_at: UtcDatetime


class UmkmDeactivated(EventPayload):
    """A UMKM was deactivated (closed down; a duplicate merged away gets UmkmMerged instead)."""

    event_type: ClassVar[str] = "id.umkm.registry.umkm.deactivated"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "umkm_id"

    umkm_id: UUID
    province_code: str
    village_code: str
    reason: str | None = None
    deactivated_at: UtcDatetime


class UmkmMerged(EventPayload):
    """A duplicate record (`merged_id`) was merged into another (`survivor_id`) after a Dinas or
    the ministry reviewed it. The merged record stays readable with status "merged"; from now on
    the business is `survivor_id`, whose own `UmkmUpdated` (same transaction) carries the fields
    it took over.

    Keyed by `merged_id`: this is the last event of the merged record, so it stays ordered after
    every earlier event of that record (a consumer never sees the merged record change after its
    merge). The survivor's events keep their own key and order.
    """

    event_type: ClassVar[str] = "id.umkm.registry.umkm.merged"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "merged_id"

    merged_id: UUID = Field(description="The duplicate record, now status merged")
    survivor_id: UUID = Field(description="The record that continues")
    province_code: str
    village_code: str
    merged_version: int = Field(description="The merged record's version after the merge")
    survivor_version: int = Field(description="The survivor's version after the merge")
    merged_at: UtcDatetime
