"""Request and response bodies of the supply-chain API (snake_case JSON)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from umkm_shared.identifiers import (
    IdentifierError,
    parse_kbli,
    parse_nib,
    parse_npwp,
    parse_wilayah,
)
from umkm_shared.text import Text


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _wrap(fn: Any, value: Any, **kw: Any) -> Any:
    try:
        return fn(value, **kw)
    except IdentifierError as e:
        raise ValueError(str(e)) from e


Nib = Annotated[str, AfterValidator(lambda v: _wrap(parse_nib, v))]
Npwp = Annotated[str, AfterValidator(lambda v: _wrap(parse_npwp, v))]
Province = Annotated[str, AfterValidator(lambda v: _wrap(parse_wilayah, v, level=1))]
Village = Annotated[str, AfterValidator(lambda v: _wrap(parse_wilayah, v))]
Kelompok = Annotated[str, AfterValidator(lambda v: _wrap(parse_kbli, v, kelompok=True).code)]

Latitude = Field(ge=-11.5, le=6.5, description="WGS84, Indonesia", examples=[-6.2])
Longitude = Field(ge=94.5, le=141.5, description="WGS84, Indonesia", examples=[106.8])
Quantity = Field(gt=0, max_digits=18, decimal_places=3, examples=["1500"])

# --- anchors -----------------------------------------------------------------------------------


class AnchorCreate(_In):
    name: Text = Field(min_length=2, max_length=200, examples=["PT Motor Listrik Nusantara"])
    nib: Nib | None = Field(None, examples=["8120012345678"])
    npwp: Npwp | None = Field(None, examples=["01.234.567.8-901.000"])
    sector: str = Field(min_length=2, max_length=60, examples=["otomotif"])
    state_owned: bool = False
    province_code: Province | None = Field(None, examples=["32"])


class AnchorPatch(_In):
    name: Text | None = Field(None, min_length=2, max_length=200)
    npwp: Npwp | None = None
    sector: str | None = Field(None, min_length=2, max_length=60)
    state_owned: bool | None = None
    province_code: Province | None = None
    status: Literal["active", "suspended"] | None = None


class AnchorOut(BaseModel):
    id: uuid.UUID
    name: str
    nib: str | None
    npwp: str | None
    sector: str
    state_owned: bool
    province_code: str | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class SiteCreate(_In):
    name: Text = Field(min_length=1, max_length=200, examples=["Pabrik Cikarang"])
    latitude: float = Latitude
    longitude: float = Longitude
    village_code: Village | None = None
    address: Text | None = Field(None, max_length=500)


class SiteOut(BaseModel):
    id: uuid.UUID
    anchor_id: uuid.UUID
    name: str
    latitude: float
    longitude: float
    village_code: str | None
    address: str | None
    created_at: datetime


class ClientCreate(_In):
    name: Text = Field(min_length=2, max_length=200, examples=["ERP integration"])


class ClientOut(BaseModel):
    client_id: str
    client_secret: str | None = Field(None, description="Shown once, at creation.")
    name: str
    actor_kind: str
    actor_id: str | None
    scopes: list[str]
    created_at: datetime | None = None
    disabled_at: datetime | None = None


# --- suppliers ---------------------------------------------------------------------------------

SpecValue = str | int | float | bool


class ProductBody(_In):
    kbli_code: Kelompok = Field(description="KBLI 2020 5-digit kelompok", examples=["29300"])
    name: Text = Field(min_length=1, max_length=200, examples=["Kabel harness motor listrik"])
    keywords: list[Text] = Field(default_factory=list, max_length=30)
    spec: dict[str, SpecValue] = Field(default_factory=dict, examples=[{"material": "tembaga"}])
    monthly_capacity: Decimal = Quantity
    unit: str = Field(min_length=1, max_length=20, examples=["pcs"])
    lead_time_days: int | None = Field(None, ge=0, le=365)

    @field_validator("spec")
    @classmethod
    def _spec_size(cls, v: dict[str, SpecValue]) -> dict[str, SpecValue]:
        if len(v) > 30:
            raise ValueError("at most 30 specification entries")
        return v


class CertificationBody(_In):
    kind: str = Field(min_length=2, max_length=30, examples=["sni"])
    number: str | None = Field(None, max_length=100)
    valid_until: date | None = None

    @field_validator("kind")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class SupplierSite(_In):
    name: Text = Field(min_length=1, max_length=200)
    latitude: float = Latitude
    longitude: float = Longitude


class SupplierPatch(_In):
    """Fields present replace the stored ones (lists as a whole)."""

    products: list[ProductBody] | None = Field(None, max_length=50)
    certifications: list[CertificationBody] | None = Field(
        None, max_length=30, description="Certifications in addition to the registry's"
    )
    sites: list[SupplierSite] | None = Field(None, max_length=20)
    lead_time_days: int | None = Field(None, ge=0, le=365)


class SupplierBatchItem(SupplierPatch):
    umkm_id: uuid.UUID


class SupplierBatch(_In):
    items: list[SupplierBatchItem] = Field(min_length=1, max_length=500)


class BatchItemError(BaseModel):
    index: int
    umkm_id: uuid.UUID
    status: int
    detail: str


class SupplierBatchOut(BaseModel):
    updated: int
    errors: list[BatchItemError]


class ProductOut(BaseModel):
    kbli_code: str
    name: str
    keywords: list[str]
    spec: dict[str, Any]
    monthly_capacity: Decimal | None
    unit: str | None
    lead_time_days: int | None


class PerformanceOut(BaseModel):
    completed_orders: int
    on_time_orders: int
    on_time_rate: float | None
    quantity_received: Decimal
    quantity_accepted: Decimal
    acceptance_rate: float | None


class SupplierOut(BaseModel):
    umkm_id: uuid.UUID
    business_name: str
    kbli_code: str
    kbli_others: list[str]
    village_code: str
    province_code: str
    latitude: float | None
    longitude: float | None
    scale: str
    status: str
    products: list[ProductOut]
    registry_products: list[str]
    certifications: list[dict[str, Any]]
    sites: list[dict[str, Any]]
    lead_time_days: int | None
    koperasi_id: uuid.UUID | None
    cluster_id: uuid.UUID | None
    performance: PerformanceOut
    profile_version: int
    updated_at: datetime


# --- procurement requests ----------------------------------------------------------------------


class DeliveryPoint(_In):
    latitude: float = Latitude
    longitude: float = Longitude


class RequestCreate(_In):
    title: Text = Field(min_length=2, max_length=200, examples=["Kabel harness 12V"])
    kbli_code: Kelompok | None = Field(None, examples=["29300"])
    keywords: list[Text] = Field(default_factory=list, max_length=20, examples=[["harness"]])
    spec: dict[str, SpecValue] = Field(default_factory=dict)
    quantity: Decimal = Quantity
    unit: str = Field(min_length=1, max_length=20, examples=["pcs"])
    site_id: uuid.UUID | None = Field(None, description="One of the anchor's sites")
    delivery: DeliveryPoint | None = Field(None, description="Or a delivery point")
    deadline: date
    required_certifications: list[str] = Field(default_factory=list, max_length=10)
    preferred_certifications: list[str] = Field(default_factory=list, max_length=10)
    max_distance_km: float | None = Field(None, gt=0, le=5000)
    budget_idr: int | None = Field(None, ge=0)
    open: bool = Field(False, description="Open at once instead of saving a draft")

    @field_validator("required_certifications", "preferred_certifications")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [x.strip().lower() for x in v if x.strip()]

    @model_validator(mode="after")
    def _what_and_where(self) -> RequestCreate:
        if not self.kbli_code and not self.keywords:
            raise ValueError("give kbli_code or keywords (or both)")
        if (self.site_id is None) == (self.delivery is None):
            raise ValueError("give exactly one of site_id and delivery")
        return self


class RequestOut(BaseModel):
    id: uuid.UUID
    anchor_id: uuid.UUID
    title: str
    kbli_code: str | None
    keywords: list[str]
    spec: dict[str, Any]
    quantity: Decimal
    unit: str
    site_id: uuid.UUID | None
    delivery: DeliveryPoint
    deadline: date
    required_certifications: list[str]
    preferred_certifications: list[str]
    max_distance_km: float | None
    budget_idr: int | None
    status: str
    awarded_quantity: Decimal
    allowed_actions: list[str]
    cancel_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class Reason(_In):
    reason: Text | None = Field(None, max_length=500)


class MatchOptions(_In):
    always_bundles: bool = Field(False, description="Propose bundles even if one can supply")
    limit: int | None = Field(None, ge=1, le=200, description="Candidates to return")


class MatchOut(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    quantity_needed: Decimal
    created_at: datetime
    feasible_count: int
    single_supplier_possible: bool
    weights: dict[str, float]
    candidates: list[dict[str, Any]]
    bundles: list[dict[str, Any]]


class AwardLine(_In):
    umkm_id: uuid.UUID
    quantity: Decimal = Quantity
    unit_price_idr: int | None = Field(None, ge=0, description="Default: the award's")


class AwardCreate(_In):
    match_id: uuid.UUID = Field(description="The match run the suppliers come from")
    bundle_id: uuid.UUID | None = Field(None, description="Award a proposed bundle as is")
    lines: list[AwardLine] = Field(default_factory=list, max_length=200)
    unit_price_idr: int | None = Field(None, ge=0)
    payment_terms_days: int = Field(30, ge=0, le=365, description="0 = pay at once")
    delivery_due_on: date | None = Field(None, description="Default: the request's deadline")

    @model_validator(mode="after")
    def _lines_or_bundle(self) -> AwardCreate:
        if not self.lines and self.bundle_id is None:
            raise ValueError("give lines or a bundle_id")
        return self


class ReceiptCreate(_In):
    quantity_received: Decimal = Field(ge=0, max_digits=18, decimal_places=3)
    quantity_accepted: Decimal = Field(ge=0, max_digits=18, decimal_places=3)
    received_on: date | None = Field(None, description="Default: today")
    note: Text | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _accepted_le_received(self) -> ReceiptCreate:
        if self.quantity_accepted > self.quantity_received:
            raise ValueError("quantity_accepted cannot exceed quantity_received")
        return self


class InvoiceCreate(_In):
    invoice_number: Text | None = Field(None, min_length=1, max_length=60)
    issued_on: date | None = None


class PaymentCreate(_In):
    payment_reference: Text = Field(min_length=1, max_length=100, examples=["VA-8801234"])
    amount_idr: int | None = Field(None, ge=0, description="Must equal the invoice amount")


class ReceiptOut(BaseModel):
    id: uuid.UUID
    quantity_received: Decimal
    quantity_accepted: Decimal
    received_on: date
    on_time: bool
    note: str | None


class InvoiceOut(BaseModel):
    id: uuid.UUID
    invoice_number: str
    amount_idr: int
    issued_on: date
    due_on: date
    status: str
    payment_reference: str | None
    paid_at: datetime | None


class OrderOut(BaseModel):
    id: uuid.UUID
    po_number: str
    anchor_id: uuid.UUID
    request_id: uuid.UUID
    umkm_id: uuid.UUID
    kbli_code: str | None
    description: str
    quantity: Decimal
    unit: str
    unit_price_idr: int
    amount_idr: int
    delivery_due_on: date
    payment_terms_days: int
    bundle_id: uuid.UUID | None
    cluster_id: uuid.UUID | None
    status: str
    allowed_actions: list[str]
    reason: str | None
    issued_at: datetime
    accepted_at: datetime | None
    declined_at: datetime | None
    cancelled_at: datetime | None
    delivered_at: datetime | None
    invoiced_at: datetime | None
    paid_at: datetime | None
    receipt: ReceiptOut | None = None
    invoice: InvoiceOut | None = None


class AwardOut(BaseModel):
    request: RequestOut
    orders: list[OrderOut]
