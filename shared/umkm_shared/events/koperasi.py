"""Koperasi events of the registry (topic `umkm.registry.v1`, the registry's one topic).

- `KoperasiRegistered` / `KoperasiUpdated` carry a full `KoperasiSnapshot` and are keyed by the
  koperasi's id; `koperasi.version` grows with every change, so a consumer can ignore a snapshot
  older than the one it holds.
- `KoperasiMembershipStarted` / `KoperasiMembershipEnded` are keyed by the **UMKM's id**, like
  every other event about an UMKM: a consumer following an UMKM (e.g. clustering's "koperasi
  membership") sees its registration, updates, deactivation and memberships in commit order on
  one partition. `membership_id` identifies one period of membership: a re-join after leaving is
  a new membership with a new id.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from umkm_shared.events.base import EventPayload, UtcDatetime
from umkm_shared.events.registry import REGISTRY_TOPIC

__all__ = [
    "KoperasiMembershipEnded",
    "KoperasiMembershipStarted",
    "KoperasiRegistered",
    "KoperasiSnapshot",
    "KoperasiStatus",
    "KoperasiType",
    "KoperasiUpdated",
]

KoperasiType = Literal["konsumen", "produsen", "simpan_pinjam", "pemasaran", "jasa", "serba_usaha"]
KoperasiStatus = Literal["active", "dissolved"]


class KoperasiSnapshot(BaseModel):
    """The state of one koperasi after a change (a legal entity: no personal data)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    koperasi_id: UUID
    name: str
    legal_number: str = Field(
        description="Nomor badan hukum, canonical form, e.g. AHU-0012423.AH.01.26.TAHUN 2021"
    )
    type: KoperasiType
    wilayah_code: str = Field(description="Kemendagri code of its seat (kab/kota or below)")
    regency_code: str
    province_code: str
    address: str | None = None
    status: KoperasiStatus
    dissolved_on: date | None = None
    version: int = Field(description="Grows by one with every change of the record")
    registered_at: UtcDatetime
    updated_at: UtcDatetime


class KoperasiRegistered(EventPayload):
    """A koperasi was added to the registry."""

    event_type: ClassVar[str] = "id.umkm.registry.koperasi.registered"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "koperasi.koperasi_id"

    koperasi: KoperasiSnapshot


class KoperasiUpdated(EventPayload):
    """A koperasi record changed (including its dissolution); `changed_fields` names them."""

    event_type: ClassVar[str] = "id.umkm.registry.koperasi.updated"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "koperasi.koperasi_id"

    koperasi: KoperasiSnapshot
    changed_fields: list[str]


class KoperasiMembershipStarted(EventPayload):
    """An UMKM became a member of a koperasi (keyed by the UMKM's id)."""

    event_type: ClassVar[str] = "id.umkm.registry.koperasi_membership.started"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "umkm_id"

    membership_id: UUID
    umkm_id: UUID
    koperasi_id: UUID
    koperasi_type: KoperasiType
    umkm_province_code: str
    joined_on: date
    started_at: UtcDatetime = Field(description="When the membership was recorded")


class KoperasiMembershipEnded(EventPayload):
    """An UMKM's membership of a koperasi ended (it left, or the koperasi was dissolved)."""

    event_type: ClassVar[str] = "id.umkm.registry.koperasi_membership.ended"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = REGISTRY_TOPIC
    key_field: ClassVar[str] = "umkm_id"

    membership_id: UUID
    umkm_id: UUID
    koperasi_id: UUID
    joined_on: date
    left_on: date
    reason: str
    cause: Literal["left", "koperasi_dissolved"] = "left"
    ended_at: UtcDatetime = Field(description="When the end was recorded")
