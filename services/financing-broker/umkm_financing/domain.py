"""Financing rules as plain functions, no I/O: the application state machine, KUR rules
(versioned configuration data), supply-chain finance checks, interest, the closed-loop split of a
payment, repayment schedules and SLIK collectibility (kol).

Money is int Rupiah, rates are Decimal (0.06 = 6 % a year). Rounding: interest is computed
exactly as principal × rate × days / 365 (Actual/365, simple) and rounded half-up to whole
Rupiah once per repayment; anything not paid is carried, so nothing is lost to rounding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from umkm_shared.errors import Conflict

Product = Literal[
    "kur_super_mikro",
    "kur_mikro",
    "kur_kecil",
    "kur_khusus",
    "po_financing",
    "invoice_financing",
    "reverse_factoring",
]
KUR_PRODUCTS: tuple[str, ...] = ("kur_super_mikro", "kur_mikro", "kur_kecil", "kur_khusus")
SCF_PRODUCTS: tuple[str, ...] = ("po_financing", "invoice_financing", "reverse_factoring")
PRODUCTS: tuple[str, ...] = KUR_PRODUCTS + SCF_PRODUCTS

# --------------------------------------------------------------------------------------------
# The application state machine
# --------------------------------------------------------------------------------------------

TERMINAL = frozenset(
    {"prescreen_failed", "confirmation_declined", "rejected", "withdrawn", "closed"}
)
PRE_DISBURSEMENT = (
    "draft",
    "awaiting_confirmation",
    "routed",
    "offer_accepted",
    "referred",
    "approved",
    "agreement_signed",
)

# action -> (statuses it is allowed from, status it leads to). Pre-screen runs right after the
# anchor's confirmation, inside the same step: "confirm" ends in routed or prescreen_failed.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("draft",), "awaiting_confirmation"),
    "confirm": (("awaiting_confirmation",), "routed"),
    "decline_confirmation": (("awaiting_confirmation",), "confirmation_declined"),
    "prescreen_fail": (("awaiting_confirmation",), "prescreen_failed"),
    "make_offer": (("routed",), "routed"),
    "accept_offer": (("routed",), "offer_accepted"),
    "approve": (("offer_accepted",), "approved"),
    "reject": (("offer_accepted", "referred"), "rejected"),
    "refer": (("offer_accepted",), "referred"),
    "provide_info": (("referred",), "offer_accepted"),
    "sign_agreement": (("approved",), "agreement_signed"),
    "disburse": (("agreement_signed",), "disbursed"),
    "repay": (("disbursed", "repaying"), "repaying"),
    "close": (("disbursed", "repaying"), "closed"),
    "withdraw": (PRE_DISBURSEMENT, "withdrawn"),
}


def allowed_actions(status: str) -> list[str]:
    return sorted(a for a, (sources, _) in TRANSITIONS.items() if status in sources)


class IllegalTransition(Conflict):
    """409: the step is not allowed from the current status; names the allowed ones."""


def next_status(status: str, action: str) -> str:
    sources, target = TRANSITIONS[action]
    if status not in sources:
        allowed = allowed_actions(status)
        raise IllegalTransition(
            detail=(
                f"cannot {action.replace('_', ' ')} an application that is {status}; "
                f"allowed now: {', '.join(allowed) or 'nothing (final status)'}"
            ),
            extra={"status": status, "action": action, "allowed": allowed},
        )
    return target


# --------------------------------------------------------------------------------------------
# KUR rules: versioned configuration (seeded from data/kur_rules_*.json, published by the
# ministry as new versions)
# --------------------------------------------------------------------------------------------


class KurScheme(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_amount_idr: int = Field(ge=1)
    max_amount_idr: int = Field(ge=1)
    rates_pa_by_prior_count: list[Decimal] = Field(
        min_length=1,
        description="Rate for the 1st, 2nd, ... KUR of the debtor; the last applies beyond",
    )
    requires_anchor: bool = False
    max_times_non_production: int | None = Field(None, ge=1)
    max_times_production: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _band(self) -> KurScheme:
        if self.min_amount_idr > self.max_amount_idr:
            raise ValueError("min_amount_idr must not exceed max_amount_idr")
        if any(r < 0 or r > 1 for r in self.rates_pa_by_prior_count):
            raise ValueError("rates are fractions a year between 0 and 1 (0.06 = 6 %)")
        return self


class KurRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")
    effective_from: date
    source: str = Field(min_length=1, max_length=2000)
    schemes: dict[str, KurScheme]
    npwp_required_above_idr: int = Field(ge=0)
    bpjs_required_above_idr: int = Field(ge=0)
    min_business_age_months: int = Field(ge=0)
    no_collateral_up_to_idr: int = Field(ge=0)
    single_active_kur: bool = True
    production_kbli_prefixes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _all_schemes(self) -> KurRules:
        missing = set(KUR_PRODUCTS) - set(self.schemes)
        extra = set(self.schemes) - set(KUR_PRODUCTS)
        if missing or extra:
            raise ValueError(
                f"schemes must be exactly {', '.join(KUR_PRODUCTS)}"
                + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                + (f"; unknown {', '.join(sorted(extra))}" if extra else "")
            )
        return self

    def rate_for(self, product: str, prior_kur_count: int) -> Decimal:
        rates = self.schemes[product].rates_pa_by_prior_count
        return rates[min(max(prior_kur_count, 0), len(rates) - 1)]


def seed_rules() -> dict[str, Any]:
    """The KUR rules shipped with the service (seeded by migration 0002)."""
    text = resources.files("umkm_financing").joinpath("data/kur_rules_2026.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class EligibilityFacts:
    """What pre-screening knows about the UMKM (registry read model + declarations)."""

    known: bool
    status: str | None = None
    founded_on: date | None = None
    npwp: str | None = None
    kbli_code: str | None = None
    prior_kur_count: int = 0
    active_kur_loans: int = 0
    bpjs_ketenagakerjaan: str | None = None


def months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return months


def check_umkm(facts: EligibilityFacts) -> list[str]:
    if not facts.known:
        return ["the UMKM is not (yet) in the registry read model"]
    if facts.status != "active":
        return [f"the UMKM's registry status is {facts.status}, not active"]
    return []


def check_kur(
    rules: KurRules, product: str, amount_idr: int, facts: EligibilityFacts, today: date
) -> list[str]:
    """Every reason the KUR rules refuse this request (empty: eligible)."""
    reasons: list[str] = []
    scheme = rules.schemes[product]
    if not scheme.min_amount_idr <= amount_idr <= scheme.max_amount_idr:
        reasons.append(
            f"{product} amounts are Rp {scheme.min_amount_idr:,} to Rp {scheme.max_amount_idr:,}"
            f" per debtor; requested Rp {amount_idr:,}"
        )
    if amount_idr > rules.npwp_required_above_idr and not facts.npwp:
        reasons.append(f"an NPWP is required above Rp {rules.npwp_required_above_idr:,}")
    if amount_idr > rules.bpjs_required_above_idr and not facts.bpjs_ketenagakerjaan:
        reasons.append(
            "BPJS Ketenagakerjaan membership is required above "
            f"Rp {rules.bpjs_required_above_idr:,}"
        )
    if facts.founded_on is None:
        reasons.append("the business's founding date is unknown (needed for the age rule)")
    elif months_between(facts.founded_on, today) < rules.min_business_age_months:
        reasons.append(f"the business must be at least {rules.min_business_age_months} months old")
    if rules.single_active_kur and facts.active_kur_loans > 0:
        reasons.append("the debtor already has an active KUR")
    production = bool(facts.kbli_code) and any(
        (facts.kbli_code or "").startswith(p) for p in rules.production_kbli_prefixes
    )
    limit = scheme.max_times_production if production else scheme.max_times_non_production
    if limit is not None and facts.prior_kur_count >= limit:
        kind = "production" if production else "non-production"
        reasons.append(f"{product} may be taken at most {limit} times in {kind} sectors")
    return reasons


def check_kur_offer(
    rules: KurRules, product: str, amount_idr: int, rate_pa: Decimal, prior: int, collateral: bool
) -> list[tuple[str, str]]:
    """(field, reason) pairs a bank's KUR offer breaks: the rate is fixed by the rules, no
    extra collateral up to the threshold, the amount within the scheme's band."""
    out: list[tuple[str, str]] = []
    fixed = rules.rate_for(product, prior)
    if rate_pa != fixed:
        out.append(
            (
                "body.rate_pa",
                f"the KUR rate for this debtor is {fixed} a year (rules {rules.version})",
            )
        )
    if collateral and amount_idr <= rules.no_collateral_up_to_idr:
        out.append(
            (
                "body.collateral_required",
                f"no extra collateral may be asked up to Rp {rules.no_collateral_up_to_idr:,}",
            )
        )
    scheme = rules.schemes[product]
    if not scheme.min_amount_idr <= amount_idr <= scheme.max_amount_idr:
        out.append(("body.amount_idr", f"outside the {product} band"))
    return out


@dataclass(frozen=True)
class OrderFacts:
    """The supply-chain read model of one purchase order."""

    status: str
    amount_idr: int
    goods_received: bool
    invoice_amount_idr: int | None
    invoice_paid: bool


def underlying_amount(product: str, order: OrderFacts) -> int:
    """What an SCF product lends against: the invoice once there is one, else the PO."""
    if product == "po_financing":
        return order.amount_idr
    return order.invoice_amount_idr or 0


def check_scf(product: str, amount_idr: int, order: OrderFacts | None) -> list[str]:
    if order is None:
        return [f"{product} needs the purchase order it finances (po_id)"]
    reasons: list[str] = []
    if order.status in ("declined", "cancelled"):
        reasons.append(f"the purchase order is {order.status}")
    if order.invoice_paid:
        reasons.append("the invoice is already paid")
    if product == "po_financing" and order.status not in ("accepted", "received", "invoiced"):
        reasons.append("PO financing needs a purchase order the supplier accepted")
    if product == "invoice_financing" and not (order.goods_received and order.invoice_amount_idr):
        reasons.append("invoice financing needs the goods received (BAST) and an invoice")
    if product == "reverse_factoring" and not order.invoice_amount_idr:
        reasons.append("reverse factoring needs an issued invoice")
    base = underlying_amount(product, order)
    if base and amount_idr > base:
        reasons.append(f"the amount exceeds the underlying Rp {base:,}")
    return reasons


# --------------------------------------------------------------------------------------------
# Interest, the closed-loop split, schedules and kol
# --------------------------------------------------------------------------------------------

DAYS_IN_YEAR = Decimal(365)


def interest_idr(principal_idr: int, rate_pa: Decimal, days: int) -> int:
    """Simple Actual/365 interest, rounded half-up to whole Rupiah."""
    if principal_idr <= 0 or days <= 0:
        return 0
    exact = Decimal(principal_idr) * rate_pa * Decimal(days) / DAYS_IN_YEAR
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Allocation:
    interest_idr: int
    principal_idr: int
    remainder_idr: int

    @property
    def total(self) -> int:
        return self.interest_idr + self.principal_idr + self.remainder_idr


def allocate(amount_idr: int, interest_due_idr: int, principal_outstanding_idr: int) -> Allocation:
    """Closed loop: the payment pays interest first, then principal; the rest goes to the UMKM."""
    if amount_idr < 0:
        raise ValueError("a payment cannot be negative")
    to_interest = min(amount_idr, max(interest_due_idr, 0))
    to_principal = min(amount_idr - to_interest, max(principal_outstanding_idr, 0))
    return Allocation(to_interest, to_principal, amount_idr - to_interest - to_principal)


def schedule(
    product: str, principal_idr: int, disbursed_on: date, tenor_days: int
) -> list[tuple[date, int]]:
    """Principal due dates. Supply-chain finance is a bullet at maturity (the anchor's payment
    repays it); KUR is paid in equal 30-day instalments of principal (remainder in the last)."""
    if product in SCF_PRODUCTS or tenor_days < 60:
        return [(disbursed_on + timedelta(days=tenor_days), principal_idr)]
    n = tenor_days // 30
    part = principal_idr // n
    rows = [(disbursed_on + timedelta(days=30 * (i + 1)), part) for i in range(n)]
    last_due, last = rows[-1]
    rows[-1] = (last_due, last + principal_idr - part * n)
    return rows


def days_past_due(plan: Sequence[tuple[date, int]], principal_paid_idr: int, as_of: date) -> int:
    """Days since the oldest instalment not covered by the principal paid so far."""
    covered = 0
    for due_on, amount in plan:
        covered += amount
        if covered > principal_paid_idr:
            return max(0, (as_of - due_on).days)
    return 0


def kol_for(dpd: int) -> int:
    """SLIK collectibility (OJK): 1 current, 2 = 1–90 days late, 3 = 91–120, 4 = 121–180,
    5 = over 180. Kol 3–5 are non-performing."""
    if dpd <= 0:
        return 1
    if dpd <= 90:
        return 2
    if dpd <= 120:
        return 3
    if dpd <= 180:
        return 4
    return 5


NPL_KOLS = (3, 4, 5)
