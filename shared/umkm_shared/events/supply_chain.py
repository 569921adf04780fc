"""Events of the supply-chain service (topic `umkm.supply-chain.v1`).

- Anchor events carry a full `AnchorSnapshot`, keyed by the anchor's id; `anchor.version` grows with
  every change, so a consumer can ignore a snapshot older than the one it holds.
- Every event of one purchase order's life (issued, accepted/declined, goods received, invoice
  issued/paid) is keyed by `po_id`, so a consumer (the financing broker) sees them in order.

Amounts are integer Rupiah; quantities are decimals as strings in JSON (kg, pcs, m ...).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from umkm_shared.events.base import EventPayload, UtcDatetime

__all__ = [
    "SUPPLY_CHAIN_SOURCE",
    "SUPPLY_CHAIN_TOPIC",
    "AnchorRegistered",
    "AnchorSnapshot",
    "AnchorUpdated",
    "GoodsReceived",
    "InvoiceIssued",
    "InvoicePaid",
    "PurchaseOrderAccepted",
    "PurchaseOrderCancelled",
    "PurchaseOrderDeclined",
    "PurchaseOrderIssued",
]

SUPPLY_CHAIN_TOPIC = "umkm.supply-chain.v1"
SUPPLY_CHAIN_SOURCE = "/supply-chain"

AnchorStatus = Literal["active", "suspended"]


class AnchorSnapshot(BaseModel):
    """The state of one anchor company after a change (a legal entity: no personal data)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    anchor_id: UUID
    name: str
    nib: str | None = None
    npwp: str | None = Field(None, description="16-digit NPWP")
    sector: str = Field(description="Cluster sector code the anchor buys for, e.g. 'otomotif'")
    state_owned: bool = Field(False, description="BUMN / BUMD")
    province_code: str | None = Field(None, description="Seat of the head office")
    status: AnchorStatus
    version: int = Field(description="Grows by one with every change of the record")
    registered_at: UtcDatetime
    updated_at: UtcDatetime


class AnchorRegistered(EventPayload):
    """An anchor company was onboarded."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.anchor.registered"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = SUPPLY_CHAIN_TOPIC
    key_field: ClassVar[str] = "anchor.anchor_id"

    anchor: AnchorSnapshot


class AnchorUpdated(EventPayload):
    """An anchor's record changed (including suspension); `changed_fields` names them."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.anchor.updated"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = SUPPLY_CHAIN_TOPIC
    key_field: ClassVar[str] = "anchor.anchor_id"

    anchor: AnchorSnapshot
    changed_fields: list[str]


class _OrderEvent(EventPayload):
    """Common fields of every purchase-order event (abstract: no event_type)."""

    key_field: ClassVar[str] = "po_id"
    topic: ClassVar[str] = SUPPLY_CHAIN_TOPIC

    po_id: UUID
    anchor_id: UUID
    umkm_id: UUID = Field(description="The supplier")


class PurchaseOrderIssued(_OrderEvent):
    """An anchor issued a purchase order to one supplier (from an award of its request)."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.purchase_order.issued"
    version: ClassVar[int] = 1

    request_id: UUID = Field(description="The procurement request it was awarded from")
    po_number: str = Field(description="Human-readable number, unique per anchor")
    kbli_code: str | None = None
    description: str
    quantity: Decimal
    unit: str
    unit_price_idr: int
    amount_idr: int = Field(description="quantity x unit price, rounded to whole Rupiah")
    delivery_due_on: date
    payment_terms_days: int = Field(description="Days after the accepted delivery to pay")
    bundle_id: UUID | None = Field(None, description="Set when the supplier is part of a bundle")
    cluster_id: UUID | None = None
    issued_at: UtcDatetime


class PurchaseOrderAccepted(_OrderEvent):
    """The supplier accepted the purchase order."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.purchase_order.accepted"
    version: ClassVar[int] = 1

    accepted_at: UtcDatetime


class PurchaseOrderDeclined(_OrderEvent):
    """The supplier declined the purchase order."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.purchase_order.declined"
    version: ClassVar[int] = 1

    reason: str | None = None
    declined_at: UtcDatetime


class PurchaseOrderCancelled(_OrderEvent):
    """The anchor cancelled the purchase order before delivery."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.purchase_order.cancelled"
    version: ClassVar[int] = 1

    reason: str | None = None
    cancelled_at: UtcDatetime


class GoodsReceived(_OrderEvent):
    """The anchor recorded a goods-received note (BAST) for the order."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.goods.received"
    version: ClassVar[int] = 1

    receipt_id: UUID
    quantity_received: Decimal
    quantity_accepted: Decimal
    on_time: bool
    received_at: UtcDatetime


class InvoiceIssued(_OrderEvent):
    """The supplier invoiced the anchor for accepted goods."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.invoice.issued"
    version: ClassVar[int] = 1

    invoice_id: UUID
    invoice_number: str
    amount_idr: int
    issued_on: date
    due_on: date


class InvoicePaid(_OrderEvent):
    """The anchor paid the invoice (in full: `amount_idr` equals the invoice amount)."""

    event_type: ClassVar[str] = "id.umkm.supply_chain.invoice.paid"
    version: ClassVar[int] = 1

    invoice_id: UUID
    amount_idr: int
    payment_reference: str
    paid_at: UtcDatetime
