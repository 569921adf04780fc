"""Supply-chain use cases. They work inside the caller's transaction and never commit.

Actors:
- the ministry registers and changes anchors and reads everything;
- an anchor (actor_id = anchor id) manages its sites, API clients, webhook endpoints, requests,
  matches, awards, goods receipts and payments, and sees only its own;
- the supplier's side is its koperasi (for active members) or its Dinas (for suppliers in its
  wilayah): they enrich profiles, accept or decline orders and issue invoices.
Another tenant's id is a 404, never a 403, so ids cannot be probed. An anchor may also enrich
the profile of a supplier it has ordered from.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind, ClientStore
from umkm_shared.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed, invalid
from umkm_shared.events.base import EventPayload
from umkm_shared.events.supply_chain import (
    AnchorRegistered,
    AnchorSnapshot,
    AnchorUpdated,
    GoodsReceived,
    InvoiceIssued,
    InvoicePaid,
    PurchaseOrderAccepted,
    PurchaseOrderCancelled,
    PurchaseOrderDeclined,
    PurchaseOrderIssued,
)
from umkm_shared.ids import new_id

from . import domain
from .context import SupplyChainContext
from .matching import MatchQuery, match
from .models import (
    Anchor,
    AnchorSite,
    GoodsReceipt,
    Invoice,
    MatchRun,
    ProcurementRequest,
    PurchaseOrder,
    Supplier,
    SupplierProduct,
)
from .repository import Repository, actor_uuid, order_scope, ordered_from, supplier_scope
from .schemas import (
    AnchorCreate,
    AnchorPatch,
    AwardCreate,
    InvoiceCreate,
    PaymentCreate,
    ReceiptCreate,
    RequestCreate,
    SiteCreate,
    SupplierPatch,
)

ANCHOR_SCOPES = ("supply-chain:read", "supply-chain:write")

# Webhook event types sent to the anchor (Standard Webhooks `type` in the body).
WEBHOOK_TYPES = {
    PurchaseOrderIssued: "purchase_order.issued",
    PurchaseOrderAccepted: "purchase_order.accepted",
    PurchaseOrderDeclined: "purchase_order.declined",
    PurchaseOrderCancelled: "purchase_order.cancelled",
    GoodsReceived: "goods.received",
    InvoiceIssued: "invoice.issued",
    InvoicePaid: "invoice.paid",
}


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().date()


def anchor_snapshot(a: Anchor) -> AnchorSnapshot:
    return AnchorSnapshot(
        anchor_id=a.id,
        name=a.name,
        nib=a.nib,
        npwp=a.npwp,
        sector=a.sector,
        state_owned=a.state_owned,
        province_code=a.province_code,
        status=a.status,
        version=a.version,
        registered_at=a.created_at,
        updated_at=a.updated_at,
    )


class SupplyChainService:
    def __init__(self, session: AsyncSession, actor: Actor, ctx: SupplyChainContext) -> None:
        self.session = session
        self.actor = actor
        self.ctx = ctx
        self.repo = Repository(session)

    # --- access -----------------------------------------------------------------------------

    @property
    def is_ministry(self) -> bool:
        return self.actor.kind in (ActorKind.MINISTRY, ActorKind.SERVICE)

    def own_anchor(self) -> uuid.UUID:
        """The calling anchor's id (anchor actors only)."""
        anchor = actor_uuid(self.actor) if self.actor.kind is ActorKind.ANCHOR else None
        if anchor is None:
            raise Forbidden(detail="only an anchor company can do this")
        return anchor

    def anchor_filter(self) -> uuid.UUID | None:
        """None for the ministry (every anchor), else the caller's own anchor id."""
        return None if self.is_ministry else self.own_anchor()

    async def _anchor_visible(self, anchor_id: uuid.UUID, *, for_update: bool = False) -> Anchor:
        if not self.is_ministry and anchor_id != self.own_anchor():
            raise NotFound(detail=f"anchor {anchor_id} does not exist")
        row = await self.repo.anchor(anchor_id, for_update=for_update)
        if row is None:
            raise NotFound(detail=f"anchor {anchor_id} does not exist")
        return row

    async def _active_own_anchor(self) -> Anchor:
        anchor = await self.repo.anchor(self.own_anchor())
        if anchor is None:
            raise Forbidden(detail="your client names an anchor that is not registered")
        if anchor.status != "active":
            raise Conflict(detail=f"anchor {anchor.id} is {anchor.status}", extra={"allowed": []})
        return anchor

    async def _emit(self, payload: EventPayload, anchor_id: uuid.UUID, key: str) -> None:
        """The event to Kafka (outbox) and, for order events, to the anchor's webhooks, both in
        this transaction. The webhook-id is the CloudEvent id: one event, one webhook-id."""
        event = await self.ctx.outbox.enqueue(self.session, payload)
        hook_type = WEBHOOK_TYPES.get(type(payload))
        if hook_type is not None:
            await self.ctx.webhooks.enqueue(
                self.session,
                "anchor",
                str(anchor_id),
                hook_type,
                payload.model_dump(mode="json"),
                ordering_key=key,
                message_id=f"msg_{event.id}",
            )

    # --- anchors ----------------------------------------------------------------------------

    async def register_anchor(self, body: AnchorCreate) -> Anchor:
        if not self.is_ministry:
            raise Forbidden(detail="only the ministry registers anchor companies")
        if body.nib and (holder := await self.repo.anchor_by_nib(body.nib)) is not None:
            raise Conflict(
                detail=f"NIB {body.nib} is already registered to anchor {holder.id}",
                extra={"field": "body.nib", "existing_id": str(holder.id)},
            )
        at = now()
        row = Anchor(
            id=new_id(),
            name=body.name,
            nib=body.nib,
            npwp=body.npwp,
            sector=body.sector,
            state_owned=body.state_owned,
            province_code=body.province_code,
            status="active",
            version=1,
            po_counter=0,
            created_at=at,
            updated_at=at,
        )
        await self.repo.add(row)
        await self.ctx.outbox.enqueue(self.session, AnchorRegistered(anchor=anchor_snapshot(row)))
        return row

    async def update_anchor(self, anchor_id: uuid.UUID, patch: AnchorPatch) -> Anchor:
        if not self.is_ministry:
            raise Forbidden(detail="only the ministry changes an anchor's record")
        row = await self._anchor_visible(anchor_id, for_update=True)
        changed = []
        for name in patch.model_fields_set:
            value = getattr(patch, name)
            if value is None and name in ("name", "sector", "state_owned", "status"):
                raise invalid(f"body.{name}", "cannot be null")
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed.append(name)
        if changed:
            row.version += 1
            row.updated_at = now()
            await self.session.flush()
            await self.ctx.outbox.enqueue(
                self.session,
                AnchorUpdated(anchor=anchor_snapshot(row), changed_fields=sorted(changed)),
            )
        return row

    async def get_anchor(self, anchor_id: uuid.UUID) -> Anchor:
        return await self._anchor_visible(anchor_id)

    async def list_anchors(self, after: uuid.UUID | None, limit: int) -> list[Anchor]:
        return await self.repo.anchors(self.anchor_filter(), after, limit)

    async def add_site(self, anchor_id: uuid.UUID, body: SiteCreate) -> AnchorSite:
        await self._anchor_visible(anchor_id)
        row = AnchorSite(id=new_id(), anchor_id=anchor_id, created_at=now(), **body.model_dump())
        await self.repo.add(row)
        return row

    async def sites(self, anchor_id: uuid.UUID) -> list[AnchorSite]:
        await self._anchor_visible(anchor_id)
        return await self.repo.sites(anchor_id)

    async def create_client(self, anchor_id: uuid.UUID, name: str) -> tuple[str, str]:
        await self._anchor_visible(anchor_id)
        return await ClientStore(self.session).create_client(
            name=name, kind=ActorKind.ANCHOR, actor_id=str(anchor_id), scopes=ANCHOR_SCOPES
        )

    async def clients(self, anchor_id: uuid.UUID) -> list[Any]:
        await self._anchor_visible(anchor_id)
        return [
            c
            for c in await ClientStore(self.session).list_clients()
            if c.kind is ActorKind.ANCHOR and c.actor_id == str(anchor_id)
        ]

    async def disable_client(self, anchor_id: uuid.UUID, client_id: str) -> None:
        if not any(c.client_id == client_id for c in await self.clients(anchor_id)):
            raise NotFound(detail=f"client {client_id} does not exist")
        await ClientStore(self.session).disable(client_id)

    # --- suppliers --------------------------------------------------------------------------

    async def supplier(self, umkm_id: uuid.UUID) -> tuple[Supplier, list[SupplierProduct]]:
        row = await self.repo.supplier(umkm_id, supplier_scope(self.actor))
        if row is None:
            raise NotFound(detail=f"supplier {umkm_id} does not exist")
        return row, (await self.repo.products([umkm_id]))[umkm_id]

    async def suppliers(
        self, after: uuid.UUID | None, limit: int, kbli: str | None
    ) -> list[tuple[Supplier, list[SupplierProduct]]]:
        rows = await self.repo.suppliers(supplier_scope(self.actor), after, limit, kbli)
        products = await self.repo.products([r.umkm_id for r in rows])
        return [(r, products[r.umkm_id]) for r in rows]

    async def enrich_supplier(
        self, umkm_id: uuid.UUID, patch: SupplierPatch
    ) -> tuple[Supplier, list[SupplierProduct]]:
        scope = supplier_scope(self.actor)
        if self.actor.kind is ActorKind.ANCHOR:  # only suppliers it ordered from
            scope = ordered_from(self.own_anchor())
        row = await self.repo.supplier(umkm_id, scope, for_update=True)
        if row is None:
            raise NotFound(detail=f"supplier {umkm_id} does not exist")
        fields = patch.model_fields_set
        if "products" in fields:
            rows = [
                SupplierProduct(
                    id=new_id(),
                    umkm_id=umkm_id,
                    kbli_code=p.kbli_code,
                    name=p.name,
                    keywords=list(p.keywords),
                    spec=dict(p.spec),
                    monthly_capacity=p.monthly_capacity,
                    unit=domain.normalise_unit(p.unit),
                    lead_time_days=p.lead_time_days,
                )
                for p in patch.products or []
            ]
            await self.repo.replace_products(umkm_id, rows)
        if "certifications" in fields:
            row.extra_certifications = [
                c.model_dump(mode="json") for c in patch.certifications or []
            ]
        if "sites" in fields:
            row.sites = [s.model_dump(mode="json") for s in patch.sites or []]
        if "lead_time_days" in fields:
            row.lead_time_days = patch.lead_time_days
        row.profile_version += 1
        row.updated_at = now()
        await self.session.flush()
        return row, (await self.repo.products([umkm_id]))[umkm_id]

    # --- procurement requests ---------------------------------------------------------------

    async def create_request(self, body: RequestCreate) -> ProcurementRequest:
        anchor = await self._active_own_anchor()
        if body.deadline <= today():
            raise invalid("body.deadline", "must be in the future", str(body.deadline))
        if body.site_id is not None:
            site = await self.repo.site(anchor.id, body.site_id)
            if site is None:
                raise invalid("body.site_id", "not one of your sites", str(body.site_id))
            lat, lon = site.latitude, site.longitude
        else:
            assert body.delivery is not None
            lat, lon = body.delivery.latitude, body.delivery.longitude
        at = now()
        row = ProcurementRequest(
            id=new_id(),
            anchor_id=anchor.id,
            title=body.title,
            kbli_code=body.kbli_code,
            keywords=list(body.keywords),
            spec=dict(body.spec),
            quantity=body.quantity,
            unit=domain.normalise_unit(body.unit),
            site_id=body.site_id,
            delivery_latitude=lat,
            delivery_longitude=lon,
            deadline=body.deadline,
            required_certifications=list(body.required_certifications),
            preferred_certifications=list(body.preferred_certifications),
            max_distance_km=body.max_distance_km,
            budget_idr=body.budget_idr,
            status="open" if body.open else "draft",
            awarded_quantity=Decimal(0),
            version=1,
            created_at=at,
            updated_at=at,
        )
        await self.repo.add(row)
        return row

    async def request(
        self, request_id: uuid.UUID, *, for_update: bool = False
    ) -> ProcurementRequest:
        row = await self.repo.request(request_id, self.anchor_filter(), for_update=for_update)
        if row is None:
            raise NotFound(detail=f"procurement request {request_id} does not exist")
        return row

    async def requests(
        self, status: str | None, after: uuid.UUID | None, limit: int
    ) -> list[ProcurementRequest]:
        return await self.repo.requests(self.anchor_filter(), status, after, limit)

    async def request_step(
        self, request_id: uuid.UUID, action: str, reason: str | None = None
    ) -> ProcurementRequest:
        self.own_anchor()
        row = await self.request(request_id, for_update=True)
        row.status = domain.REQUEST.next(row.status, action)
        if action == "cancel":
            row.cancel_reason = reason
        row.version += 1
        row.updated_at = now()
        await self.session.flush()
        return row

    # --- matching ---------------------------------------------------------------------------

    def _query(self, r: ProcurementRequest, always_bundles: bool, limit: int | None) -> MatchQuery:
        s = self.ctx.settings
        terms = list(r.keywords or [])
        terms += [str(v) for v in (r.spec or {}).values() if isinstance(v, str)]
        return MatchQuery(
            quantity=float(r.quantity - r.awarded_quantity),
            unit=r.unit,
            latitude=r.delivery_latitude,
            longitude=r.delivery_longitude,
            deadline=r.deadline,
            today=today(),
            kbli_code=r.kbli_code,
            keywords=terms,
            required_certifications=list(r.required_certifications or []),
            preferred_certifications=list(r.preferred_certifications or []),
            max_distance_km=r.max_distance_km,
            anchor_id=r.anchor_id,
            weights=s.weights(),
            default_distance_km=s.match_default_max_distance_km,
            candidate_limit=limit or s.match_candidate_limit,
            bundle_limit=s.match_bundle_limit,
            bundle_pool=s.match_bundle_pool,
            always_bundles=always_bundles,
        )

    async def run_match(
        self, request_id: uuid.UUID, always_bundles: bool, limit: int | None
    ) -> MatchRun:
        anchor = self.own_anchor()
        row = await self.request(request_id)
        domain.REQUEST.next(row.status, "match")
        query = self._query(row, always_bundles, limit)
        await self.ctx.index_sync.sync()  # read your writes (profiles changed just now)
        result = await asyncio.to_thread(match, self.ctx.index, query)
        for bundle in result["bundles"]:
            bundle["bundle_id"] = str(new_id())
        result["quantity_needed"] = str(row.quantity - row.awarded_quantity)
        total_w = sum(query.weights.values()) or 1.0
        result["weights"] = {k: round(v / total_w, 4) for k, v in query.weights.items()}
        ids = {c["umkm_id"] for c in result["candidates"]}
        ids |= {m["umkm_id"] for b in result["bundles"] for m in b["members"]}
        run = MatchRun(
            id=new_id(),
            request_id=row.id,
            anchor_id=anchor,
            result=result,
            supplier_ids=sorted(uuid.UUID(i) for i in ids),
            created_at=now(),
        )
        await self.repo.add(run)
        if result["bundles"] or result["candidates"]:
            await self.ctx.webhooks.enqueue(
                self.session,
                "anchor",
                str(anchor),
                "procurement_request.matched",
                {
                    "request_id": str(row.id),
                    "match_id": str(run.id),
                    "candidates": len(result["candidates"]),
                    "bundles": len(result["bundles"]),
                    "single_supplier_possible": result["single_supplier_possible"],
                },
                ordering_key=str(row.id),
            )
        return run

    async def match_run(self, match_id: uuid.UUID) -> MatchRun:
        run = await self.repo.match_run(match_id, self.anchor_filter())
        if run is None:
            raise NotFound(detail=f"match {match_id} does not exist")
        return run

    async def latest_match(self, request_id: uuid.UUID) -> MatchRun:
        row = await self.request(request_id)
        run = await self.repo.latest_match(row.id)
        if run is None:
            raise NotFound(detail=f"procurement request {request_id} has not been matched yet")
        return run

    # --- award ------------------------------------------------------------------------------

    async def award(
        self, request_id: uuid.UUID, body: AwardCreate
    ) -> tuple[ProcurementRequest, list[PurchaseOrder]]:
        anchor_id = self.own_anchor()
        req = await self.request(request_id, for_update=True)
        domain.REQUEST.next(req.status, "award")
        run = await self.repo.match_run(body.match_id, anchor_id)
        if run is None or run.request_id != req.id:
            raise invalid("body.match_id", "not a match of this request", str(body.match_id))
        lines = [(ln.umkm_id, ln.quantity, ln.unit_price_idr) for ln in body.lines]
        bundle: dict[str, Any] | None = None
        if body.bundle_id is not None:
            bundle = next(
                (b for b in run.result["bundles"] if b.get("bundle_id") == str(body.bundle_id)),
                None,
            )
            if bundle is None:
                raise invalid("body.bundle_id", "not a bundle of that match", str(body.bundle_id))
            if not lines:
                lines = [
                    (uuid.UUID(m["umkm_id"]), Decimal(str(m["quantity"])), None)
                    for m in bundle["members"]
                    if m["quantity"] > 0
                ]
        matched = set(run.supplier_ids)
        errors: list[FieldError] = []
        seen: set[uuid.UUID] = set()
        for i, (umkm_id, _, price) in enumerate(lines):
            if umkm_id not in matched:
                errors.append(FieldError(f"body.lines.{i}.umkm_id", "not in that match"))
            if umkm_id in seen:
                errors.append(FieldError(f"body.lines.{i}.umkm_id", "listed twice"))
            seen.add(umkm_id)
            if price is None and body.unit_price_idr is None:
                errors.append(
                    FieldError(f"body.lines.{i}.unit_price_idr", "give it here or for the award")
                )
        if errors:
            raise ValidationFailed(detail="the award has invalid lines", errors=errors)
        remaining = req.quantity - req.awarded_quantity
        total_qty = sum((q for _, q, _ in lines), Decimal(0))
        if bundle is not None and not body.lines and total_qty > remaining and lines:
            # rounding of the proposal's allocations: trim the last member's share
            u, q, p = lines[-1]
            lines[-1] = (u, q - (total_qty - remaining), p)
            total_qty = remaining
        if total_qty > remaining:
            raise invalid(
                "body.lines",
                f"awards {total_qty} {req.unit} but only {remaining} {req.unit} remain",
            )
        priced = [(u, q, p if p is not None else body.unit_price_idr) for u, q, p in lines]
        total_amount = sum(domain.amount_idr(q, int(p or 0)) for _, q, p in priced)
        if req.budget_idr is not None and total_amount > req.budget_idr:
            raise invalid(
                "body.lines",
                f"the award costs Rp {total_amount} and exceeds the budget of Rp {req.budget_idr}",
            )
        anchor = await self.repo.anchor(anchor_id, for_update=True)
        assert anchor is not None
        suppliers = {u: await self.repo.supplier(u, true()) for u, _, _ in priced}
        at = now()
        orders = []
        for umkm_id, qty, price in priced:
            supplier = suppliers.get(umkm_id)
            if supplier is None or supplier.status != "active":
                raise Conflict(detail=f"supplier {umkm_id} is no longer active")
            anchor.po_counter += 1
            po = PurchaseOrder(
                id=new_id(),
                anchor_id=anchor_id,
                request_id=req.id,
                umkm_id=umkm_id,
                supplier_village_code=supplier.village_code,
                po_number=f"PO-{at:%Y}-{anchor.po_counter:06d}",
                kbli_code=req.kbli_code,
                description=req.title,
                quantity=qty,
                unit=req.unit,
                unit_price_idr=int(price or 0),
                amount_idr=domain.amount_idr(qty, int(price or 0)),
                delivery_due_on=body.delivery_due_on or req.deadline,
                payment_terms_days=body.payment_terms_days,
                bundle_id=body.bundle_id,
                cluster_id=supplier.cluster_id,
                match_run_id=run.id,
                status="issued",
                issued_at=at,
                version=1,
            )
            await self.repo.add(po)
            orders.append(po)
            await self._emit(
                PurchaseOrderIssued(
                    po_id=po.id,
                    anchor_id=anchor_id,
                    umkm_id=umkm_id,
                    request_id=req.id,
                    po_number=po.po_number,
                    kbli_code=po.kbli_code,
                    description=po.description,
                    quantity=qty,
                    unit=po.unit,
                    unit_price_idr=po.unit_price_idr,
                    amount_idr=po.amount_idr,
                    delivery_due_on=po.delivery_due_on,
                    payment_terms_days=po.payment_terms_days,
                    bundle_id=po.bundle_id,
                    cluster_id=po.cluster_id,
                    issued_at=at,
                ),
                anchor_id,
                str(po.id),
            )
        req.awarded_quantity += total_qty
        req.status = domain.request_status_after_award(req.quantity, req.awarded_quantity)
        req.version += 1
        req.updated_at = at
        await self.session.flush()
        return req, orders

    # --- orders -----------------------------------------------------------------------------

    async def order(
        self, po_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[PurchaseOrder, GoodsReceipt | None, Invoice | None]:
        po = await self.repo.order(po_id, order_scope(self.actor), for_update=for_update)
        if po is None:
            raise NotFound(detail=f"purchase order {po_id} does not exist")
        return po, await self.repo.receipt(po.id), await self.repo.invoice(po.id)

    async def orders(
        self, status: str | None, request_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
    ) -> list[PurchaseOrder]:
        return await self.repo.orders(
            order_scope(self.actor), status=status, request_id=request_id, after=after, limit=limit
        )

    def _check_side(self, action: str) -> None:
        side = domain.ORDER_SIDE[action]
        kind = self.actor.kind
        if side == "anchor" and kind is not ActorKind.ANCHOR:
            raise Forbidden(detail=f"only the ordering anchor can {action} a purchase order")
        if side == "supplier" and kind not in (ActorKind.KOPERASI, ActorKind.DINAS):
            raise Forbidden(
                detail=f"only the supplier's koperasi or Dinas can {action} a purchase order"
            )

    async def _release(self, po: PurchaseOrder) -> None:
        """A declined or cancelled order gives its quantity back to the request."""
        req = await self.repo.request(po.request_id, None, for_update=True)
        assert req is not None
        req.awarded_quantity -= po.quantity
        if req.status == "awarded":
            req.status = "partly_awarded"
        req.version += 1
        req.updated_at = now()

    async def order_step(
        self, po_id: uuid.UUID, action: str, body: Any = None
    ) -> tuple[PurchaseOrder, GoodsReceipt | None, Invoice | None]:
        po, receipt, invoice = await self.order(po_id, for_update=True)
        self._check_side(action)
        po.status = domain.ORDER.next(po.status, action)
        at = now()
        base = {"po_id": po.id, "anchor_id": po.anchor_id, "umkm_id": po.umkm_id}
        payload: EventPayload
        if action == "accept":
            po.accepted_at = at
            payload = PurchaseOrderAccepted(**base, accepted_at=at)
        elif action == "decline":
            po.declined_at, po.reason = at, getattr(body, "reason", None)
            await self._release(po)
            payload = PurchaseOrderDeclined(**base, reason=po.reason, declined_at=at)
        elif action == "cancel":
            po.cancelled_at, po.reason = at, getattr(body, "reason", None)
            await self._release(po)
            payload = PurchaseOrderCancelled(**base, reason=po.reason, cancelled_at=at)
        elif action == "receive":
            assert isinstance(body, ReceiptCreate)
            if body.quantity_received > po.quantity:
                raise invalid(
                    "body.quantity_received",
                    f"more than the {po.quantity} {po.unit} ordered",
                    str(body.quantity_received),
                )
            received_on = body.received_on or at.date()
            receipt = GoodsReceipt(
                id=new_id(),
                po_id=po.id,
                quantity_received=body.quantity_received,
                quantity_accepted=body.quantity_accepted,
                received_on=received_on,
                on_time=received_on <= po.delivery_due_on,
                note=body.note,
                received_at=at,
            )
            await self.repo.add(receipt)
            po.delivered_at = at
            await self.repo.record_performance(
                po.umkm_id, receipt.on_time, body.quantity_received, body.quantity_accepted
            )
            payload = GoodsReceived(
                **base,
                receipt_id=receipt.id,
                quantity_received=receipt.quantity_received,
                quantity_accepted=receipt.quantity_accepted,
                on_time=receipt.on_time,
                received_at=at,
            )
        elif action == "invoice":
            assert isinstance(body, InvoiceCreate) and receipt is not None
            issued_on = body.issued_on or at.date()
            invoice = Invoice(
                id=new_id(),
                po_id=po.id,
                invoice_number=body.invoice_number or f"INV-{po.po_number}",
                amount_idr=domain.amount_idr(receipt.quantity_accepted, po.unit_price_idr),
                issued_on=issued_on,
                due_on=domain.due_on(receipt.received_on, po.payment_terms_days),
                status="issued",
                created_at=at,
            )
            await self.repo.add(invoice)
            po.invoiced_at = at
            payload = InvoiceIssued(
                **base,
                invoice_id=invoice.id,
                invoice_number=invoice.invoice_number,
                amount_idr=invoice.amount_idr,
                issued_on=invoice.issued_on,
                due_on=invoice.due_on,
            )
        elif action == "pay":
            assert isinstance(body, PaymentCreate) and invoice is not None
            if body.amount_idr is not None and body.amount_idr != invoice.amount_idr:
                raise invalid(
                    "body.amount_idr",
                    f"the invoice is Rp {invoice.amount_idr}; pay it in full",
                    body.amount_idr,
                )
            invoice.status, invoice.paid_at = "paid", at
            invoice.payment_reference = body.payment_reference
            po.paid_at = at
            payload = InvoicePaid(
                **base,
                invoice_id=invoice.id,
                amount_idr=invoice.amount_idr,
                payment_reference=body.payment_reference,
                paid_at=at,
            )
        else:  # pragma: no cover - the lifecycle refuses unknown actions first
            raise ValueError(action)
        po.version += 1
        await self.session.flush()
        await self._emit(payload, po.anchor_id, str(po.id))
        return po, receipt, invoice
