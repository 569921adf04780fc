"""Request and response bodies of the registry API (snake_case JSON).

Identifier fields are validated by the shared identifier parsers, so a bad NIK, NIB,
NPWP, KBLI or wilayah code answers 422 naming the field and the exact reason.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from umkm_shared import identifiers
from umkm_shared.parsing import normalize_name
from umkm_shared.text import check_nested_text

# Indonesia's bounding box, generously: a coordinate outside it is a typo.
LAT_RANGE = (-11.5, 6.5)
LNG_RANGE = (94.5, 141.5)

NikStr = Annotated[str, AfterValidator(identifiers.parse_nik)]
NibStr = Annotated[str, AfterValidator(identifiers.parse_nib)]
NpwpStr = Annotated[str, AfterValidator(identifiers.parse_npwp)]
VillageCode = Annotated[str, AfterValidator(lambda v: identifiers.parse_wilayah(v, level=4))]
WilayahPrefix = Annotated[str, AfterValidator(identifiers.parse_wilayah)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(normalize_name)]


class Strict(BaseModel):
    """Base of every request body: unknown fields and control characters are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        return check_nested_text(value)


class Kbli(Strict):
    """A KBLI code with its version (KBLI 2020 today; KBLI 2025 is in transition)."""

    version: Literal["2020"] = "2020"
    code: str = Field(examples=["10794"], description="2- to 5-digit KBLI code; 5 digits preferred")

    @model_validator(mode="after")
    def _known(self) -> Kbli:
        self.code = identifiers.parse_kbli(self.code, self.version).code
        return self


class CertificationKind(StrEnum):
    halal = "halal"
    sni = "sni"
    pirt = "pirt"
    bpom = "bpom"
    iso9001 = "iso9001"
    haccp = "haccp"
    organic = "organic"
    other = "other"


class Certification(Strict):
    kind: CertificationKind
    number: str | None = Field(default=None, max_length=100)
    valid_until: date | None = None


class UmkmFields(Strict):
    """Fields shared by create and patch (all optional; UmkmCreate requires its own)."""

    nib: NibStr | None = Field(default=None, examples=["9120001234567"])
    npwp: NpwpStr | None = Field(
        default=None, description="16 digits; the 15-digit legacy form is accepted and stored as 16"
    )
    kbli_others: list[Kbli] | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=LAT_RANGE[0], le=LAT_RANGE[1])
    longitude: float | None = Field(default=None, ge=LNG_RANGE[0], le=LNG_RANGE[1])
    capital_idr: int | None = Field(
        default=None, ge=0, le=10**15, description="Rupiah, excluding land and buildings"
    )
    annual_sales_idr: int | None = Field(
        default=None, ge=0, le=10**16, description="Rupiah per year"
    )
    workforce: int | None = Field(default=None, ge=0, le=1_000_000)
    founded_on: date | None = None
    products: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=100
    )
    certifications: list[Certification] | None = Field(default=None, max_length=50)

    @field_validator("founded_on")
    @classmethod
    def _not_future(cls, v: date | None) -> date | None:
        if v is not None and v > date.today():
            raise ValueError(f"founding date {v.isoformat()} is in the future")
        if v is not None and v.year < 1900:
            raise ValueError(f"founding date {v.isoformat()} is before 1900")
        return v

    @model_validator(mode="after")
    def _both_coordinates(self) -> UmkmFields:
        fields = self.model_fields_set
        if ("latitude" in fields) != ("longitude" in fields) or (
            (self.latitude is None) != (self.longitude is None)
        ):
            raise ValueError("latitude and longitude must be given together")
        return self


class UmkmCreate(UmkmFields):
    business_name: Name = Field(examples=["Keripik Tempe Bu Sri"])
    owner_name: Name = Field(examples=["Sri Wahyuni"])
    owner_nik: NikStr = Field(examples=["3273014507850001"])
    kbli: Kbli
    village_code: VillageCode = Field(
        examples=["32.73.01.1001"],
        description="Kemendagri desa/kelurahan code, with or without dots",
    )

    @model_validator(mode="after")
    def _scale_basis(self) -> UmkmCreate:
        if self.capital_idr is None and self.annual_sales_idr is None:
            raise ValueError("capital_idr or annual_sales_idr is needed to classify the scale")
        return self


class UmkmPatch(UmkmFields):
    """Only the fields present are changed; `null` clears an optional field."""

    business_name: Name | None = None
    owner_name: Name | None = None
    owner_nik: NikStr | None = None
    kbli: Kbli | None = None
    village_code: VillageCode | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> UmkmPatch:
        for name in ("business_name", "owner_name", "owner_nik", "kbli", "village_code"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        return self


class Deactivate(Strict):
    reason: str = Field(min_length=3, max_length=500, examples=["Usaha tutup permanen"])


class Owner(BaseModel):
    name: str
    nik_masked: str


class Region(BaseModel):
    code: str
    name: str


class Wilayah(BaseModel):
    province: Region
    regency: Region
    district: Region
    village: Region


class Location(BaseModel):
    latitude: float | None
    longitude: float | None
    approximate: bool = Field(
        description="true when the point is the kecamatan centre, not the business"
    )


class UmkmOut(BaseModel):
    id: uuid.UUID
    business_name: str
    owner: Owner
    nib: str | None
    npwp: str | None
    kbli: Kbli
    kbli_others: list[Kbli]
    wilayah: Wilayah
    address: str | None
    location: Location
    capital_idr: int | None
    annual_sales_idr: int | None
    scale: str
    workforce: int | None
    founded_on: date | None
    products: list[str]
    certifications: list[Certification]
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None
    deactivation_reason: str | None
    merged_into: uuid.UUID | None = Field(
        default=None, description='Status "merged": the record this duplicate was merged into'
    )


class ScaleChangeOut(BaseModel):
    previous_scale: str | None
    new_scale: str
    capital_idr: int | None
    annual_sales_idr: int | None
    basis: str
    changed_at: datetime


class OwnerNikOut(BaseModel):
    umkm_id: uuid.UUID
    owner_nik: str


class CountRow(BaseModel):
    key: str
    name: str | None = None
    count: int


class Counts(BaseModel):
    group_by: str
    total: int
    rows: list[CountRow]


class ChangeOut(BaseModel):
    seq: int
    change: Literal["registered", "updated", "deactivated", "merged"]
    umkm_id: uuid.UUID
    version: int = Field(description="The record's version right after this change")
    changed_at: datetime
    merged_into: uuid.UUID | None = None
    umkm: UmkmOut | None = Field(
        description="The record as it is now (null if it no longer exists)"
    )


class ChangeFeed(BaseModel):
    items: list[ChangeOut]
    next_since: str = Field(description="Pass as `since` next time; unchanged when nothing is new")
