"""Request and response bodies of the financing broker's HTTP API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from umkm_shared.identifiers import IdentifierError, parse_nik

from .domain import KurRules, Product

MAX_IDR = 10**15  # Rp 1 quadrillion: far above any facility, well inside bigint


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- banks -----------------------------------------------------------------------------------


class BankCreate(_In):
    name: str = Field(min_length=2, max_length=200, examples=["PT Bank Rakyat Contoh"])
    code: str = Field(
        min_length=2,
        max_length=20,
        pattern=r"^[A-Z0-9_]+$",
        examples=["BRC"],
        description="Short code; also the prefix of the partner id",
    )


class BankOut(BaseModel):
    id: uuid.UUID
    name: str
    code: str
    partner_id: str
    client_id: str
    status: str
    created_at: datetime


class BankOnboarded(BankOut):
    client_secret: str = Field(description="OAuth2 client secret: shown once")
    signing_secret: str = Field(description="SNAP X-SIGNATURE HMAC key: shown once")
    scopes: list[str]
    token_url: str


# --- programmes and limits -------------------------------------------------------------------


class ProductTerms(_In):
    product: Product
    max_advance_pct: Decimal | None = Field(
        None, gt=0, le=100, description="SCF: the largest advance on the underlying, e.g. 90"
    )
    tenors_days: list[int] | None = Field(
        None, description="Tenors the bank offers, e.g. [30, 60, 90]; none: any"
    )
    fee_pct: Decimal | None = Field(None, ge=0, le=100)


class ProgrammeCreate(_In):
    anchor_id: uuid.UUID
    name: str = Field(min_length=2, max_length=200)
    products: list[ProductTerms] = Field(min_length=1)
    programme_limit_idr: int = Field(gt=0, le=MAX_IDR)
    supplier_sublimit_idr: int = Field(
        gt=0, le=MAX_IDR, description="Default sub-limit per supplier"
    )
    anchor_exposure_cap_idr: int | None = Field(
        None,
        gt=0,
        le=MAX_IDR,
        description="The bank's cap on this anchor over all its programmes with it "
        "(default: the programme limit when no cap is set yet)",
    )

    @model_validator(mode="after")
    def _distinct(self) -> ProgrammeCreate:
        names = [p.product for p in self.products]
        if len(set(names)) != len(names):
            raise ValueError("each product may appear once")
        return self


class LimitOut(BaseModel):
    kind: str
    programme_id: uuid.UUID | None
    anchor_id: uuid.UUID
    umkm_id: uuid.UUID | None
    limit_idr: int
    reserved_idr: int
    used_idr: int
    available_idr: int


class ProgrammeOut(BaseModel):
    id: uuid.UUID
    bank_id: uuid.UUID
    anchor_id: uuid.UUID
    name: str
    products: list[dict[str, Any]]
    supplier_sublimit_idr: int
    status: str
    created_at: datetime
    limits: list[LimitOut] = Field(default_factory=list)


class LimitSet(_In):
    limit_idr: int = Field(ge=0, le=MAX_IDR)


# --- KUR rules -------------------------------------------------------------------------------


class KurRulesOut(BaseModel):
    version: str
    effective_from: date
    published_at: datetime
    published_by: str | None
    rules: KurRules


# --- applications ----------------------------------------------------------------------------


class ApplicationCreate(_In):
    product: Product
    po_id: uuid.UUID | None = Field(
        None, description="The purchase order financed: anchor, UMKM and amounts are pre-filled"
    )
    invoice_id: uuid.UUID | None = Field(None, description="Alternatively, the invoice")
    umkm_id: uuid.UUID | None = None
    anchor_id: uuid.UUID | None = None
    amount_requested_idr: int | None = Field(None, gt=0, le=MAX_IDR)
    tenor_days: int | None = Field(None, gt=0, le=3650)
    purpose: str | None = Field(None, max_length=2000)
    prior_kur_count: int = Field(0, ge=0, le=20, description="KUR loans the debtor had before")
    bpjs_ketenagakerjaan: str | None = Field(None, min_length=5, max_length=20)
    owner_nik: str | None = Field(
        None, description="Only with the owner's consent to share it with the banks"
    )
    nik_consent_reference: str | None = Field(None, min_length=3, max_length=200)
    submit: bool = Field(True, description="False keeps it a draft")

    @field_validator("owner_nik")
    @classmethod
    def _nik(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_nik(value)
        except IdentifierError as e:
            raise ValueError(str(e)) from e

    @model_validator(mode="after")
    def _consent(self) -> ApplicationCreate:
        if self.owner_nik and not self.nik_consent_reference:
            raise ValueError("owner_nik needs nik_consent_reference (the owner's consent)")
        return self


class HistoryOut(BaseModel):
    seq: int
    action: str
    from_status: str | None
    to_status: str
    actor_kind: str
    actor_id: str | None
    detail: dict[str, Any]
    at: datetime


class ApplicationOut(BaseModel):
    id: uuid.UUID
    status: str
    allowed_actions: list[str]
    product: str
    umkm_id: uuid.UUID
    anchor_id: uuid.UUID
    po_id: uuid.UUID | None
    invoice_id: uuid.UUID | None
    amount_requested_idr: int
    tenor_days: int
    purpose: str | None
    opened_by_kind: str
    opened_by_id: str | None
    prescreen: dict[str, Any] | None
    rules_version: str | None
    confirmed_amount_idr: int | None
    accepted_offer_id: uuid.UUID | None
    bank_id: uuid.UUID | None
    referral_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class UmkmFactsOut(BaseModel):
    umkm_id: uuid.UUID
    business_name: str | None
    owner_nik_masked: str | None
    owner_nik: str | None = Field(None, description="Only when the owner consented")
    npwp: str | None
    nib: str | None
    founded_on: date | None
    scale: str | None
    kbli_code: str | None
    province_code: str | None
    regency_code: str | None


class OrderOut(BaseModel):
    po_id: uuid.UUID
    po_number: str | None
    status: str
    amount_idr: int | None
    goods_received: bool
    invoice_number: str | None
    invoice_amount_idr: int | None
    invoice_due_on: date | None


class BankApplicationOut(ApplicationOut):
    umkm: UmkmFactsOut
    order: OrderOut | None
    prior_kur_count_declared: int
    bpjs_ketenagakerjaan: str | None


class ConfirmIn(_In):
    confirmed_amount_idr: int | None = Field(
        None,
        gt=0,
        le=MAX_IDR,
        description="The amount the anchor undertakes to pay (default: requested)",
    )
    payment_undertaking: bool = Field(
        True, description="The anchor will pay the invoice into the lending bank's account"
    )


class ReasonIn(_In):
    reason: str | None = Field(None, max_length=2000)


class InfoIn(_In):
    response: str = Field(min_length=1, max_length=5000)


class OfferCreate(_In):
    amount_idr: int = Field(gt=0, le=MAX_IDR)
    rate_pa: Decimal = Field(ge=0, le=1, description="0.06 = 6 % a year")
    tenor_days: int = Field(gt=0, le=3650)
    advance_pct: Decimal | None = Field(None, gt=0, le=100)
    fees_idr: int = Field(0, ge=0, le=MAX_IDR)
    collateral_required: bool = False
    conditions: str | None = Field(None, max_length=2000)
    valid_until: AwareDatetime | None = None


class OfferOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    bank_id: uuid.UUID
    bank_name: str | None = None
    amount_idr: int
    rate_pa: Decimal
    tenor_days: int
    advance_pct: Decimal | None
    fees_idr: int
    collateral_required: bool
    conditions: str | None
    valid_until: datetime | None
    status: str
    interest_idr: int = Field(description="Interest for the full tenor (Actual/365)")
    total_cost_idr: int = Field(description="Interest + fees: compare offers by this")
    created_at: datetime


class DecisionIn(_In):
    decision: Literal["approve", "reject", "refer"]
    note: str | None = Field(None, max_length=5000)
    approved_amount_idr: int | None = Field(None, gt=0, le=MAX_IDR)

    @model_validator(mode="after")
    def _refer_needs_note(self) -> DecisionIn:
        if self.decision == "refer" and not self.note:
            raise ValueError("a referral needs a note saying what information is needed")
        return self


class AgreementIn(_In):
    agreement_reference: str = Field(min_length=1, max_length=200)
    signed_on: date


class DisbursementIn(_In):
    amount_idr: int = Field(gt=0, le=MAX_IDR)
    disbursed_on: date
    reference: str = Field(min_length=1, max_length=200)


class RepaymentIn(_In):
    amount_idr: int = Field(gt=0, le=MAX_IDR)
    paid_on: date
    reference: str = Field(min_length=1, max_length=200)


class CloseIn(_In):
    reason: Literal["written_off", "restructured"]
    note: str | None = Field(None, max_length=2000)


class RepaymentOut(BaseModel):
    id: uuid.UUID
    source: str
    reference: str
    amount_idr: int
    interest_idr: int
    principal_idr: int
    remainder_idr: int
    outstanding_after_idr: int
    paid_on: date


class LoanOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    bank_id: uuid.UUID
    anchor_id: uuid.UUID
    umkm_id: uuid.UUID
    product: str
    principal_idr: int
    fees_idr: int
    rate_pa: Decimal
    disbursed_on: date
    maturity_on: date
    schedule: list[dict[str, Any]]
    principal_paid_idr: int
    interest_paid_idr: int
    interest_unpaid_idr: int
    remainder_paid_out_idr: int
    outstanding_idr: int
    status: str
    kol: int
    days_past_due: int
    kol_as_of: date | None
    closure_reason: str | None
    repayments: list[RepaymentOut] = Field(default_factory=list)


class AgeingIn(_In):
    as_of: date | None = Field(None, description="Default: today (Asia/Jakarta)")


class AgeingOut(BaseModel):
    as_of: date
    loans: int
    changed: int


class PortfolioRow(BaseModel):
    key: str | None
    loans: int
    active_loans: int
    volume_idr: int = Field(description="Principal disbursed")
    outstanding_idr: int
    outstanding_by_kol: dict[str, int]
    npl_idr: int = Field(description="Outstanding in kol 3-5")
    npl_ratio: Decimal


class Portfolio(BaseModel):
    group_by: str
    rows: list[PortfolioRow]
    total: PortfolioRow
