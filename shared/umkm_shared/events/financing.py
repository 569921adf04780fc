"""Events of the financing broker (topic `umkm.financing.v1`).

Every event of one application's life — submission, anchor confirmation, routing, offers, the
bank's review, agreement, disbursement, repayments, collectibility (SLIK kol) and closure — is
keyed by `application_id`, so a consumer sees them in order. Each carries the application's
`status` after the step and the time it happened.

No personal data travels here (no NIK, no names): banks receive what they need through the
broker's API and webhooks. Amounts are integer Rupiah; rates are decimals as strings in JSON
(`"0.06"` is 6 % a year).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from umkm_shared.events.base import EventPayload, UtcDatetime

__all__ = [
    "FINANCING_SOURCE",
    "FINANCING_TOPIC",
    "AgreementSigned",
    "ApplicationApproved",
    "ApplicationConfirmationDeclined",
    "ApplicationConfirmed",
    "ApplicationInfoProvided",
    "ApplicationPrescreenFailed",
    "ApplicationReferred",
    "ApplicationRejected",
    "ApplicationRouted",
    "ApplicationSubmitted",
    "ApplicationWithdrawn",
    "LimitReleased",
    "LimitReserved",
    "LoanClosed",
    "LoanDisbursed",
    "LoanKolChanged",
    "OfferAccepted",
    "OfferLapsed",
    "OfferMade",
    "Product",
    "RepaymentApplied",
]

FINANCING_TOPIC = "umkm.financing.v1"
FINANCING_SOURCE = "/financing"

Product = Literal[
    "kur_super_mikro",
    "kur_mikro",
    "kur_kecil",
    "kur_khusus",
    "po_financing",
    "invoice_financing",
    "reverse_factoring",
]
ClosureReason = Literal["paid", "written_off", "restructured"]


class _ApplicationEvent(EventPayload):
    """Common fields of every financing event (abstract: no event_type)."""

    topic: ClassVar[str] = FINANCING_TOPIC
    key_field: ClassVar[str] = "application_id"

    application_id: UUID
    status: str = Field(description="The application's status after this step")
    occurred_at: UtcDatetime


class ApplicationSubmitted(_ApplicationEvent):
    """An application was opened for an UMKM (by an anchor, koperasi, Dinas or bank)."""

    event_type: ClassVar[str] = "id.umkm.financing.application.submitted"
    version: ClassVar[int] = 1

    umkm_id: UUID
    anchor_id: UUID
    product: Product
    amount_requested_idr: int
    tenor_days: int
    po_id: UUID | None = Field(None, description="The purchase order it finances, if any")
    invoice_id: UUID | None = None
    opened_by_kind: str = Field(description="anchor, koperasi, dinas or bank")
    opened_by_id: str | None = None


class ApplicationConfirmed(_ApplicationEvent):
    """The anchor confirmed the underlying order or invoice (and its payment undertaking)."""

    event_type: ClassVar[str] = "id.umkm.financing.application.confirmed"
    version: ClassVar[int] = 1

    anchor_id: UUID
    confirmed_amount_idr: int | None = None


class ApplicationConfirmationDeclined(_ApplicationEvent):
    """The anchor refused to confirm: the application ends."""

    event_type: ClassVar[str] = "id.umkm.financing.application.confirmation_declined"
    version: ClassVar[int] = 1

    anchor_id: UUID
    reason: str | None = None


class ApplicationPrescreenFailed(_ApplicationEvent):
    """Pre-screening (product rules, limits headroom, eligibility) refused the application."""

    event_type: ClassVar[str] = "id.umkm.financing.application.prescreen_failed"
    version: ClassVar[int] = 1

    reasons: list[str]
    rules_version: str | None = None


class ApplicationRouted(_ApplicationEvent):
    """Pre-screen passed; the application was offered to the banks listed."""

    event_type: ClassVar[str] = "id.umkm.financing.application.routed"
    version: ClassVar[int] = 1

    bank_ids: list[UUID]
    rules_version: str | None = None


class OfferMade(_ApplicationEvent):
    """A bank bid on the application; the amount is reserved against its limits."""

    event_type: ClassVar[str] = "id.umkm.financing.offer.made"
    version: ClassVar[int] = 1

    offer_id: UUID
    bank_id: UUID
    amount_idr: int
    rate_pa: Decimal
    tenor_days: int
    advance_pct: Decimal | None = None
    fees_idr: int = 0
    valid_until: UtcDatetime | None = None


class OfferAccepted(_ApplicationEvent):
    """One offer was taken; the bank's review begins."""

    event_type: ClassVar[str] = "id.umkm.financing.offer.accepted"
    version: ClassVar[int] = 1

    offer_id: UUID
    bank_id: UUID
    amount_idr: int


class OfferLapsed(_ApplicationEvent):
    """An offer was not taken (another was, or the application ended); its reservation
    was released."""

    event_type: ClassVar[str] = "id.umkm.financing.offer.lapsed"
    version: ClassVar[int] = 1

    offer_id: UUID
    bank_id: UUID
    reason: str


class ApplicationApproved(_ApplicationEvent):
    """The bank approved the application after its review."""

    event_type: ClassVar[str] = "id.umkm.financing.application.approved"
    version: ClassVar[int] = 1

    bank_id: UUID
    approved_amount_idr: int


class ApplicationRejected(_ApplicationEvent):
    """The bank rejected the application; its reservation was released."""

    event_type: ClassVar[str] = "id.umkm.financing.application.rejected"
    version: ClassVar[int] = 1

    bank_id: UUID
    reason: str | None = None


class ApplicationReferred(_ApplicationEvent):
    """The bank referred the application back for more information."""

    event_type: ClassVar[str] = "id.umkm.financing.application.referred"
    version: ClassVar[int] = 1

    bank_id: UUID
    requested_information: str


class ApplicationInfoProvided(_ApplicationEvent):
    """The applicant's side answered a referral; the bank's review continues."""

    event_type: ClassVar[str] = "id.umkm.financing.application.info_provided"
    version: ClassVar[int] = 1


class ApplicationWithdrawn(_ApplicationEvent):
    """The applicant's side withdrew before disbursement; reservations were released."""

    event_type: ClassVar[str] = "id.umkm.financing.application.withdrawn"
    version: ClassVar[int] = 1

    reason: str | None = None


class AgreementSigned(_ApplicationEvent):
    """The credit agreement (akad) was signed."""

    event_type: ClassVar[str] = "id.umkm.financing.agreement.signed"
    version: ClassVar[int] = 1

    bank_id: UUID
    agreement_reference: str
    signed_on: date


class LoanDisbursed(_ApplicationEvent):
    """The bank paid out the loan; the reserved amount became used."""

    event_type: ClassVar[str] = "id.umkm.financing.loan.disbursed"
    version: ClassVar[int] = 1

    loan_id: UUID
    bank_id: UUID
    anchor_id: UUID
    umkm_id: UUID
    product: Product
    principal_idr: int
    fees_idr: int
    rate_pa: Decimal
    disbursed_on: date
    maturity_on: date


class RepaymentApplied(_ApplicationEvent):
    """A payment was applied to the loan: interest first, then principal, the remainder
    released to the UMKM (closed loop). amount = interest + principal + remainder."""

    event_type: ClassVar[str] = "id.umkm.financing.loan.repayment_applied"
    version: ClassVar[int] = 1

    loan_id: UUID
    repayment_id: UUID
    source: Literal["anchor_invoice_payment", "bank_report"]
    amount_idr: int
    interest_idr: int
    principal_idr: int
    remainder_to_umkm_idr: int
    outstanding_principal_idr: int
    paid_on: date


class LoanKolChanged(_ApplicationEvent):
    """The loan's SLIK collectibility changed (kol 1 current … kol 5 over 180 days late)."""

    event_type: ClassVar[str] = "id.umkm.financing.loan.kol_changed"
    version: ClassVar[int] = 1

    loan_id: UUID
    previous_kol: int
    kol: int
    days_past_due: int
    as_of: date


class LoanClosed(_ApplicationEvent):
    """The loan ended: paid, written off or restructured."""

    event_type: ClassVar[str] = "id.umkm.financing.loan.closed"
    version: ClassVar[int] = 1

    loan_id: UUID
    reason: ClosureReason
    outstanding_principal_idr: int


class LimitReserved(_ApplicationEvent):
    """An amount was reserved on every limit layer of a programme (for an offer)."""

    event_type: ClassVar[str] = "id.umkm.financing.limit.reserved"
    version: ClassVar[int] = 1

    programme_id: UUID
    bank_id: UUID
    amount_idr: int


class LimitReleased(_ApplicationEvent):
    """A reservation or a used amount was given back to the limits (lapse, rejection,
    withdrawal, or repaid principal)."""

    event_type: ClassVar[str] = "id.umkm.financing.limit.released"
    version: ClassVar[int] = 1

    programme_id: UUID
    bank_id: UUID
    amount_idr: int
    reason: str
