"""Request and response bodies of the koperasi API (snake_case JSON)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from ..schemas import Name, Region, Strict, UmkmOut
from . import domain

LegalNumber = Annotated[
    str,
    Field(
        min_length=3,
        max_length=100,
        examples=["AHU-0012423.AH.01.26.TAHUN 2021"],
        description="Nomor badan hukum: AHU-…AH.01.26.TAHUN yyyy, or a legacy …/BH/… number",
    ),
    AfterValidator(domain.parse_legal_number),
]
Seat = Annotated[
    str,
    Field(
        examples=["32.73"],
        description="Kemendagri code of the seat: kab/kota, kecamatan or desa (dots optional)",
    ),
    AfterValidator(domain.parse_seat),
]
Address = Annotated[str, Field(max_length=500)]


class KoperasiType(StrEnum):
    konsumen = "konsumen"
    produsen = "produsen"
    simpan_pinjam = "simpan_pinjam"
    pemasaran = "pemasaran"
    jasa = "jasa"
    serba_usaha = "serba_usaha"


def _not_future(what: str) -> AfterValidator:
    def check(v: date | None) -> date | None:
        if v is not None:
            domain.check_not_future(v, what)
        return v

    return AfterValidator(check)


class KoperasiCreate(Strict):
    name: Name = Field(examples=["Koperasi Produsen Tempe Tahu Sukajadi"])
    legal_number: LegalNumber
    type: KoperasiType
    wilayah_code: Seat
    address: Address | None = None


class KoperasiPatch(Strict):
    """Only the fields present change. `status: "dissolved"` dissolves the koperasi (final):
    its open memberships end on `dissolved_on` (default today)."""

    name: Name | None = None
    legal_number: LegalNumber | None = None
    type: KoperasiType | None = None
    wilayah_code: Seat | None = None
    address: Address | None = None
    status: Literal["dissolved"] | None = None
    dissolved_on: Annotated[date | None, _not_future("dissolution date")] = None

    @model_validator(mode="after")
    def _consistent(self) -> KoperasiPatch:
        for name in ("name", "legal_number", "type", "wilayah_code", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        if self.dissolved_on is not None and self.status != "dissolved":
            raise ValueError('dissolved_on is only given with status "dissolved"')
        return self


class KoperasiOut(BaseModel):
    id: uuid.UUID
    name: str
    legal_number: str
    type: KoperasiType
    type_name: str = Field(examples=["Koperasi Produsen"])
    wilayah: Region = Field(description="The seat")
    regency: Region
    province: Region
    address: str | None
    status: Literal["active", "dissolved"]
    dissolved_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime


class JoinRequest(Strict):
    umkm_id: uuid.UUID
    joined_on: Annotated[date, _not_future("joined_on")] = Field(
        default_factory=domain.today_wib, description="Default: today (WIB)"
    )


class LeaveRequest(Strict):
    left_on: Annotated[date, _not_future("left_on")] = Field(
        default_factory=domain.today_wib, description="Default: today (WIB); not before joined_on"
    )
    reason: str = Field(min_length=3, max_length=500, examples=["Mengundurkan diri"])

    @field_validator("reason")
    @classmethod
    def _tidy(cls, v: str) -> str:
        return " ".join(v.split())


class MembershipFields(BaseModel):
    membership_id: uuid.UUID
    koperasi_id: uuid.UUID
    umkm_id: uuid.UUID
    joined_on: date
    left_on: date | None
    left_reason: str | None
    open: bool = Field(description="true while the UMKM is a member (left_on is null)")
    created_at: datetime
    ended_at: datetime | None


class MemberOut(MembershipFields):
    """A membership as its koperasi sees it: with the member UMKM's record (NIK masked)."""

    umkm: UmkmOut | None = Field(description="The UMKM as it is now (null if it no longer exists)")


class UmkmMembershipOut(MembershipFields):
    """A membership as seen from the UMKM: with the koperasi."""

    koperasi: KoperasiOut
