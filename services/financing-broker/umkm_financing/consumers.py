"""Event handlers: the read models the broker keeps of other services' data, and the closed loop.

- registry → `umkm_facts` (eligibility facts; a snapshot older than the one held is ignored);
- clustering → `umkm_clusters` (highest `assignment_seq` wins, for per-cluster reports);
- supply chain → `anchors`, `purchase_orders` (pre-filling applications, SCF checks) and, on
  `InvoicePaid`, the closed-loop repayment of the loan financing that order.

Each handler runs in the inbox transaction of `EventConsumer`: applied exactly once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind
from umkm_shared.events.clustering import ClusterMembersAssigned, ClusterMembersRemoved
from umkm_shared.events.envelope import CloudEvent
from umkm_shared.events.registry import (
    UmkmDeactivated,
    UmkmMerged,
    UmkmRegistered,
    UmkmScaleChanged,
    UmkmSnapshot,
    UmkmUpdated,
)
from umkm_shared.events.supply_chain import (
    AnchorRegistered,
    AnchorUpdated,
    GoodsReceived,
    InvoiceIssued,
    InvoicePaid,
    PurchaseOrderAccepted,
    PurchaseOrderCancelled,
    PurchaseOrderDeclined,
    PurchaseOrderIssued,
)

from .context import FinancingContext
from .models import Anchor, Loan, PurchaseOrder, UmkmCluster, UmkmFacts
from .service import Caller, FinancingService
from .snap import WIB

SYSTEM = Actor(kind=ActorKind.SERVICE, client_id="financing-consumer", scopes=frozenset())


async def _upsert_umkm(session: AsyncSession, u: UmkmSnapshot) -> None:
    values: dict[str, Any] = {
        "umkm_id": u.umkm_id,
        "business_name": u.business_name,
        "owner_nik_masked": u.owner_nik_masked,
        "npwp": u.npwp,
        "nib": u.nib,
        "founded_on": u.founded_on,
        "scale": u.scale,
        "status": u.status,
        "kbli_code": u.kbli_primary.code,
        "province_code": u.province_code,
        "regency_code": u.regency_code,
        "version": u.version,
    }
    stmt = pg_insert(UmkmFacts).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UmkmFacts.umkm_id],
            set_={k: stmt.excluded[k] for k in values if k != "umkm_id"},
            where=UmkmFacts.version < stmt.excluded.version,
        )
    )


async def on_umkm_registered(session: AsyncSession, e: UmkmRegistered, _: CloudEvent) -> None:
    await _upsert_umkm(session, e.umkm)


async def on_umkm_updated(session: AsyncSession, e: UmkmUpdated, _: CloudEvent) -> None:
    await _upsert_umkm(session, e.umkm)


async def on_scale_changed(session: AsyncSession, e: UmkmScaleChanged, _: CloudEvent) -> None:
    await session.execute(
        update(UmkmFacts).where(UmkmFacts.umkm_id == e.umkm_id).values(scale=e.new_scale)
    )


async def on_deactivated(session: AsyncSession, e: UmkmDeactivated, _: CloudEvent) -> None:
    await session.execute(
        update(UmkmFacts).where(UmkmFacts.umkm_id == e.umkm_id).values(status="inactive")
    )


async def on_merged(session: AsyncSession, e: UmkmMerged, _: CloudEvent) -> None:
    await session.execute(
        update(UmkmFacts)
        .where(UmkmFacts.umkm_id == e.merged_id)
        .values(status="merged", merged_into=e.survivor_id)
    )


async def on_members_assigned(
    session: AsyncSession, e: ClusterMembersAssigned, _: CloudEvent
) -> None:
    if not e.umkm_ids:
        return
    stmt = pg_insert(UmkmCluster).values(
        [
            {
                "umkm_id": u,
                "cluster_id": e.cluster_id,
                "sector_code": e.sector_code,
                "assignment_seq": e.assignment_seq,
            }
            for u in e.umkm_ids
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UmkmCluster.umkm_id],
            set_={
                "cluster_id": stmt.excluded.cluster_id,
                "sector_code": stmt.excluded.sector_code,
                "assignment_seq": stmt.excluded.assignment_seq,
            },
            where=UmkmCluster.assignment_seq < stmt.excluded.assignment_seq,
        )
    )


async def on_members_removed(
    session: AsyncSession, e: ClusterMembersRemoved, _: CloudEvent
) -> None:
    await session.execute(
        update(UmkmCluster)
        .where(
            UmkmCluster.umkm_id.in_(e.umkm_ids),
            UmkmCluster.cluster_id == e.cluster_id,
            UmkmCluster.assignment_seq < e.assignment_seq,
        )
        .values(cluster_id=None, assignment_seq=e.assignment_seq)
    )


async def _upsert_anchor(session: AsyncSession, e: AnchorRegistered | AnchorUpdated) -> None:
    a = e.anchor
    values = {
        "anchor_id": a.anchor_id,
        "name": a.name,
        "sector": a.sector,
        "status": a.status,
        "version": a.version,
    }
    stmt = pg_insert(Anchor).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Anchor.anchor_id],
            set_={k: stmt.excluded[k] for k in values if k != "anchor_id"},
            where=Anchor.version < stmt.excluded.version,
        )
    )


async def on_anchor(session: AsyncSession, e: AnchorRegistered | AnchorUpdated, _: Any) -> None:
    await _upsert_anchor(session, e)


async def _order(session: AsyncSession, e: Any, **values: Any) -> None:
    """Upsert the order row (an event for an order not seen yet creates it)."""
    base = {"po_id": e.po_id, "anchor_id": e.anchor_id, "umkm_id": e.umkm_id}
    stmt = pg_insert(PurchaseOrder).values(**base, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PurchaseOrder.po_id],
            set_={**values, "updated_at": stmt.excluded.updated_at},
        )
    )


async def on_po_issued(session: AsyncSession, e: PurchaseOrderIssued, _: CloudEvent) -> None:
    await _order(
        session,
        e,
        po_number=e.po_number,
        description=e.description,
        amount_idr=e.amount_idr,
        payment_terms_days=e.payment_terms_days,
        delivery_due_on=e.delivery_due_on,
        status="issued",
    )


async def on_po_accepted(session: AsyncSession, e: PurchaseOrderAccepted, _: CloudEvent) -> None:
    await _order(session, e, status="accepted")


async def on_po_declined(session: AsyncSession, e: PurchaseOrderDeclined, _: CloudEvent) -> None:
    await _order(session, e, status="declined")


async def on_po_cancelled(session: AsyncSession, e: PurchaseOrderCancelled, _: CloudEvent) -> None:
    await _order(session, e, status="cancelled")


async def on_goods_received(session: AsyncSession, e: GoodsReceived, _: CloudEvent) -> None:
    await _order(session, e, status="received", goods_received=True)


async def on_invoice_issued(session: AsyncSession, e: InvoiceIssued, _: CloudEvent) -> None:
    await _order(
        session,
        e,
        status="invoiced",
        goods_received=True,
        invoice_id=e.invoice_id,
        invoice_number=e.invoice_number,
        invoice_amount_idr=e.amount_idr,
        invoice_due_on=e.due_on,
    )


def invoice_paid_handler(ctx: FinancingContext) -> Any:
    async def on_invoice_paid(session: AsyncSession, e: InvoicePaid, _: CloudEvent) -> None:
        """The closed loop: the anchor's payment of the invoice repays the loan financing the
        order (interest, then principal) and the rest goes to the UMKM."""
        await _order(
            session,
            e,
            status="paid",
            invoice_id=e.invoice_id,
            paid_amount_idr=e.amount_idr,
            payment_reference=e.payment_reference,
            paid_at=e.paid_at,
        )
        loan = await session.scalar(
            select(Loan)
            .where(Loan.po_id == e.po_id, Loan.anchor_id == e.anchor_id, Loan.status == "active")
            .with_for_update()
        )
        if loan is None:
            return
        service = FinancingService(ctx, session, Caller(SYSTEM))
        await service.apply_payment(
            loan,
            e.amount_idr,
            e.paid_at.astimezone(WIB).date(),
            "anchor_invoice_payment",
            f"invoice:{e.invoice_id}:{e.payment_reference}",
        )

    return on_invoice_paid


def handlers(ctx: FinancingContext) -> dict[Any, Any]:
    return {
        UmkmRegistered: on_umkm_registered,
        UmkmUpdated: on_umkm_updated,
        UmkmScaleChanged: on_scale_changed,
        UmkmDeactivated: on_deactivated,
        UmkmMerged: on_merged,
        ClusterMembersAssigned: on_members_assigned,
        ClusterMembersRemoved: on_members_removed,
        AnchorRegistered: on_anchor,
        AnchorUpdated: on_anchor,
        PurchaseOrderIssued: on_po_issued,
        PurchaseOrderAccepted: on_po_accepted,
        PurchaseOrderDeclined: on_po_declined,
        PurchaseOrderCancelled: on_po_cancelled,
        GoodsReceived: on_goods_received,
        InvoiceIssued: on_invoice_issued,
        InvoicePaid: invoice_paid_handler(ctx),
    }
