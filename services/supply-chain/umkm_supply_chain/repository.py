"""Every supply-chain query, including the tenant filters that isolate anchors and suppliers.

Scopes: an anchor sees rows with its `anchor_id`; a koperasi sees orders and profiles of its
active members; a Dinas those of suppliers in its wilayah; the ministry everything.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind, wilayah_clause

from .models import (
    Anchor,
    AnchorSite,
    GoodsReceipt,
    Invoice,
    MatchRun,
    Membership,
    ProcurementRequest,
    PurchaseOrder,
    Supplier,
    SupplierProduct,
)


def actor_uuid(actor: Actor) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(actor.actor_id)) if actor.actor_id else None
    except ValueError:
        return None


def member_clause(umkm_col: Any, koperasi_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The UMKM in `umkm_col` is an active member of the koperasi."""
    if koperasi_id is None:
        return ~true()
    return exists().where(
        Membership.umkm_id == umkm_col,
        Membership.koperasi_id == koperasi_id,
        Membership.active,
    )


def order_scope(actor: Actor) -> ColumnElement[bool]:
    """Orders an actor may see."""
    if actor.kind in (ActorKind.MINISTRY, ActorKind.SERVICE):
        return true()
    if actor.kind is ActorKind.ANCHOR:
        anchor = actor_uuid(actor)
        return PurchaseOrder.anchor_id == anchor if anchor else ~true()
    if actor.kind is ActorKind.KOPERASI:
        return member_clause(PurchaseOrder.umkm_id, actor_uuid(actor))
    if actor.kind is ActorKind.DINAS:
        return wilayah_clause(PurchaseOrder.__table__.c.supplier_village_code, actor)
    return ~true()


def anchor_sees_supplier(anchor_id: uuid.UUID) -> ColumnElement[bool]:
    """Suppliers an anchor was shown by a match or ordered from."""
    matched = exists().where(
        MatchRun.anchor_id == anchor_id, Supplier.umkm_id == func.any(MatchRun.supplier_ids)
    )
    ordered = exists().where(
        PurchaseOrder.anchor_id == anchor_id, PurchaseOrder.umkm_id == Supplier.umkm_id
    )
    return or_(matched, ordered)


def ordered_from(anchor_id: uuid.UUID) -> ColumnElement[bool]:
    """Suppliers the anchor has a purchase order with."""
    return exists().where(
        PurchaseOrder.anchor_id == anchor_id, PurchaseOrder.umkm_id == Supplier.umkm_id
    )


def supplier_scope(actor: Actor) -> ColumnElement[bool]:
    if actor.kind in (ActorKind.MINISTRY, ActorKind.SERVICE):
        return true()
    if actor.kind is ActorKind.ANCHOR:
        anchor = actor_uuid(actor)
        return anchor_sees_supplier(anchor) if anchor else ~true()
    if actor.kind is ActorKind.KOPERASI:
        return member_clause(Supplier.umkm_id, actor_uuid(actor))
    if actor.kind is ActorKind.DINAS:
        return wilayah_clause(Supplier.__table__.c.village_code, actor)
    return ~true()


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *rows: Any) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # anchors
    async def anchor(self, anchor_id: uuid.UUID, *, for_update: bool = False) -> Anchor | None:
        stmt = select(Anchor).where(Anchor.id == anchor_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def anchor_by_nib(self, nib: str) -> Anchor | None:
        return (
            await self.session.execute(select(Anchor).where(Anchor.nib == nib))
        ).scalar_one_or_none()

    async def anchors(
        self, only: uuid.UUID | None, after: uuid.UUID | None, limit: int
    ) -> list[Anchor]:
        stmt = select(Anchor)
        if only is not None:
            stmt = stmt.where(Anchor.id == only)
        if after is not None:
            stmt = stmt.where(Anchor.id > after)
        return list((await self.session.execute(stmt.order_by(Anchor.id).limit(limit))).scalars())

    async def sites(self, anchor_id: uuid.UUID) -> list[AnchorSite]:
        stmt = select(AnchorSite).where(AnchorSite.anchor_id == anchor_id).order_by(AnchorSite.id)
        return list((await self.session.execute(stmt)).scalars())

    async def site(self, anchor_id: uuid.UUID, site_id: uuid.UUID) -> AnchorSite | None:
        stmt = select(AnchorSite).where(AnchorSite.id == site_id, AnchorSite.anchor_id == anchor_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # suppliers
    async def supplier(
        self, umkm_id: uuid.UUID, scope: ColumnElement[bool], *, for_update: bool = False
    ) -> Supplier | None:
        stmt = select(Supplier).where(Supplier.umkm_id == umkm_id, scope)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def suppliers(
        self, scope: ColumnElement[bool], after: uuid.UUID | None, limit: int, kbli: str | None
    ) -> list[Supplier]:
        stmt = select(Supplier).where(scope)
        if after is not None:
            stmt = stmt.where(Supplier.umkm_id > after)
        if kbli:
            stmt = stmt.where(Supplier.kbli_code.startswith(kbli, autoescape=True))
        stmt = stmt.order_by(Supplier.umkm_id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def products(self, umkm_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[SupplierProduct]]:
        out: dict[uuid.UUID, list[SupplierProduct]] = {u: [] for u in umkm_ids}
        if umkm_ids:
            stmt = (
                select(SupplierProduct)
                .where(SupplierProduct.umkm_id.in_(umkm_ids))
                .order_by(SupplierProduct.id)
            )
            for p in (await self.session.execute(stmt)).scalars():
                out[p.umkm_id].append(p)
        return out

    async def replace_products(self, umkm_id: uuid.UUID, rows: list[SupplierProduct]) -> None:
        await self.session.execute(
            delete(SupplierProduct).where(SupplierProduct.umkm_id == umkm_id)
        )
        self.session.add_all(rows)
        await self.session.flush()

    async def is_member(self, umkm_id: uuid.UUID, koperasi_id: uuid.UUID | None) -> bool:
        if koperasi_id is None:
            return False
        stmt = select(member_clause(umkm_id, koperasi_id))
        return bool((await self.session.execute(stmt)).scalar())

    # requests
    def _requests(self, anchor: uuid.UUID | None) -> Select[Any]:
        stmt = select(ProcurementRequest)
        if anchor is not None:
            stmt = stmt.where(ProcurementRequest.anchor_id == anchor)
        return stmt

    async def request(
        self, request_id: uuid.UUID, anchor: uuid.UUID | None, *, for_update: bool = False
    ) -> ProcurementRequest | None:
        stmt = self._requests(anchor).where(ProcurementRequest.id == request_id)
        if for_update:
            stmt = stmt.with_for_update()
        row: ProcurementRequest | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def requests(
        self, anchor: uuid.UUID | None, status: str | None, after: uuid.UUID | None, limit: int
    ) -> list[ProcurementRequest]:
        stmt = self._requests(anchor)
        if status:
            stmt = stmt.where(ProcurementRequest.status == status)
        if after is not None:
            stmt = stmt.where(ProcurementRequest.id > after)
        stmt = stmt.order_by(ProcurementRequest.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def match_run(self, match_id: uuid.UUID, anchor: uuid.UUID | None) -> MatchRun | None:
        stmt = select(MatchRun).where(MatchRun.id == match_id)
        if anchor is not None:
            stmt = stmt.where(MatchRun.anchor_id == anchor)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def latest_match(self, request_id: uuid.UUID) -> MatchRun | None:
        stmt = (
            select(MatchRun)
            .where(MatchRun.request_id == request_id)
            .order_by(MatchRun.created_at.desc(), MatchRun.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # orders
    async def order(
        self, po_id: uuid.UUID, scope: ColumnElement[bool], *, for_update: bool = False
    ) -> PurchaseOrder | None:
        stmt = select(PurchaseOrder).where(PurchaseOrder.id == po_id, scope)
        if for_update:
            stmt = stmt.with_for_update(of=PurchaseOrder)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def orders(
        self,
        scope: ColumnElement[bool],
        *,
        status: str | None,
        request_id: uuid.UUID | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[PurchaseOrder]:
        stmt = select(PurchaseOrder).where(scope)
        if status:
            stmt = stmt.where(PurchaseOrder.status == status)
        if request_id:
            stmt = stmt.where(PurchaseOrder.request_id == request_id)
        if after is not None:
            stmt = stmt.where(PurchaseOrder.id > after)
        stmt = stmt.order_by(PurchaseOrder.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def receipt(self, po_id: uuid.UUID) -> GoodsReceipt | None:
        stmt = select(GoodsReceipt).where(GoodsReceipt.po_id == po_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def invoice(self, po_id: uuid.UUID) -> Invoice | None:
        stmt = select(Invoice).where(Invoice.po_id == po_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def record_performance(
        self, umkm_id: uuid.UUID, on_time: bool, received: Any, accepted: Any
    ) -> None:
        await self.session.execute(
            update(Supplier)
            .where(Supplier.umkm_id == umkm_id)
            .values(
                orders_completed=Supplier.orders_completed + 1,
                orders_on_time=Supplier.orders_on_time + (1 if on_time else 0),
                quantity_received=Supplier.quantity_received + received,
                quantity_accepted=Supplier.quantity_accepted + accepted,
            )
        )
