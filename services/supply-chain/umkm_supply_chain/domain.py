"""Supply-chain rules with no I/O: lifecycles as transition tables, amounts and dates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from umkm_shared.errors import Conflict


@dataclass(frozen=True)
class Lifecycle:
    """A state machine: `steps[state][action] = next state`. An action not allowed in the
    current state is a 409 problem naming the allowed actions (`allowed`)."""

    name: str
    steps: Mapping[str, Mapping[str, str]]

    def allowed(self, state: str) -> list[str]:
        return sorted(self.steps.get(state, {}))

    def next(self, state: str, action: str, what: str = "") -> str:
        target = self.steps.get(state, {}).get(action)
        if target is None:
            allowed = self.allowed(state)
            label = what or self.name
            raise Conflict(
                detail=f"cannot {action} {label} in status {state}; "
                f"allowed: {', '.join(allowed) if allowed else 'none (final status)'}",
                extra={"status": state, "action": action, "allowed": allowed},
            )
        return target


# Procurement request: `award` lands in partly_awarded or awarded depending on the quantity
# awarded so far (the service decides which; both are listed so the table stays the truth).
REQUEST = Lifecycle(
    "procurement request",
    {
        "draft": {"open": "open", "cancel": "cancelled", "match": "draft"},
        "open": {"award": "awarded", "cancel": "cancelled", "match": "open"},
        "partly_awarded": {"award": "awarded", "close": "closed", "match": "partly_awarded"},
        "awarded": {"close": "closed"},
        "closed": {},
        "cancelled": {},
    },
)

ORDER = Lifecycle(
    "purchase order",
    {
        "issued": {"accept": "accepted", "decline": "declined", "cancel": "cancelled"},
        "accepted": {"receive": "delivered", "cancel": "cancelled"},
        "delivered": {"invoice": "invoiced"},
        "invoiced": {"pay": "paid"},
        "declined": {},
        "cancelled": {},
        "paid": {},
    },
)

# Who may take each step of an order: the anchor (buyer) or the supplier's side.
ORDER_SIDE = {
    "accept": "supplier",
    "decline": "supplier",
    "invoice": "supplier",
    "cancel": "anchor",
    "receive": "anchor",
    "pay": "anchor",
}

# Orders that still hold part of their request's quantity.
LIVE_ORDER_STATUSES = frozenset({"issued", "accepted", "delivered", "invoiced", "paid"})


def amount_idr(quantity: Decimal, unit_price_idr: int) -> int:
    """quantity x unit price, rounded half up to whole Rupiah."""
    return int((quantity * unit_price_idr).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def due_on(received_on: date, payment_terms_days: int) -> date:
    """Payment due date: the accepted delivery plus the terms (0 = at once)."""
    return received_on + timedelta(days=payment_terms_days)


def request_status_after_award(quantity: Decimal, awarded: Decimal) -> str:
    return "awarded" if awarded >= quantity else "partly_awarded"


# Bayesian prior for suppliers with little history: as if they had PRIOR_WEIGHT orders at
# PRIOR_RATE, so one late delivery does not sink a new supplier (nor one good one crown it).
PRIOR_RATE = 0.8
PRIOR_WEIGHT = 2.0


def performance_score(
    completed: int, on_time: int, received: float, accepted: float
) -> tuple[float, float, float]:
    """(score, on-time rate, acceptance rate), each 0..1, shrunk towards the prior."""
    on_time_rate = (on_time + PRIOR_RATE * PRIOR_WEIGHT) / (completed + PRIOR_WEIGHT)
    if received > 0:
        weight = PRIOR_WEIGHT * (received / max(completed, 1))
        acceptance = (accepted + PRIOR_RATE * weight) / (received + weight)
    else:
        acceptance = PRIOR_RATE
    return (on_time_rate + acceptance) / 2, on_time_rate, acceptance


# Spellings of one unit (Indonesian and English) folded together; no conversion between units.
UNIT_ALIASES = {
    "pc": "pcs",
    "piece": "pcs",
    "pieces": "pcs",
    "buah": "pcs",
    "bh": "pcs",
    "biji": "pcs",
    "kilogram": "kg",
    "kgs": "kg",
    "liter": "l",
    "litre": "l",
    "ltr": "l",
    "meter": "m",
    "metre": "m",
    "tonne": "ton",
}


def normalise_unit(unit: str) -> str:
    """Lower-case, single spaces, common spellings folded ("Buah", "piece" -> "pcs")."""
    folded = " ".join(unit.lower().split()).removesuffix(".")
    return UNIT_ALIASES.get(folded, folded)


def keyword_tokens(*texts: str) -> list[str]:
    """Lower-case word tokens (length >= 2) of product names and keywords, de-duplicated."""
    seen: dict[str, None] = {}
    for text in texts:
        word = []
        for ch in text.lower():
            if ch.isalnum():
                word.append(ch)
            else:
                if len(word) >= 2:
                    seen.setdefault("".join(word), None)
                word = []
        if len(word) >= 2:
            seen.setdefault("".join(word), None)
    return list(seen)
