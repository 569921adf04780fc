"""Rows -> response bodies."""

from __future__ import annotations

from .domain import ORDER, REQUEST
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
from .schemas import (
    AnchorOut,
    DeliveryPoint,
    InvoiceOut,
    MatchOut,
    OrderOut,
    PerformanceOut,
    ProductOut,
    ReceiptOut,
    RequestOut,
    SiteOut,
    SupplierOut,
)


def anchor_out(a: Anchor) -> AnchorOut:
    return AnchorOut.model_validate(a, from_attributes=True)


def site_out(s: AnchorSite) -> SiteOut:
    return SiteOut.model_validate(s, from_attributes=True)


def supplier_out(s: Supplier, products: list[SupplierProduct]) -> SupplierOut:
    return SupplierOut(
        umkm_id=s.umkm_id,
        business_name=s.business_name,
        kbli_code=s.kbli_code,
        kbli_others=list(s.kbli_others or []),
        village_code=s.village_code,
        province_code=s.province_code,
        latitude=s.latitude,
        longitude=s.longitude,
        scale=s.scale,
        status=s.status,
        products=[
            ProductOut(
                kbli_code=p.kbli_code,
                name=p.name,
                keywords=list(p.keywords or []),
                spec=dict(p.spec or {}),
                monthly_capacity=p.monthly_capacity,
                unit=p.unit,
                lead_time_days=p.lead_time_days,
            )
            for p in products
        ],
        registry_products=list(s.registry_products or []),
        certifications=[
            *({**c, "source": "registry"} for c in s.registry_certifications or []),
            *({**c, "source": "profile"} for c in s.extra_certifications or []),
        ],
        sites=list(s.sites or []),
        lead_time_days=s.lead_time_days,
        koperasi_id=s.koperasi_id,
        cluster_id=s.cluster_id,
        performance=PerformanceOut(
            completed_orders=s.orders_completed,
            on_time_orders=s.orders_on_time,
            on_time_rate=(s.orders_on_time / s.orders_completed) if s.orders_completed else None,
            quantity_received=s.quantity_received,
            quantity_accepted=s.quantity_accepted,
            acceptance_rate=float(s.quantity_accepted / s.quantity_received)
            if s.quantity_received
            else None,
        ),
        profile_version=s.profile_version,
        updated_at=s.updated_at,
    )


def request_out(r: ProcurementRequest) -> RequestOut:
    return RequestOut(
        id=r.id,
        anchor_id=r.anchor_id,
        title=r.title,
        kbli_code=r.kbli_code,
        keywords=list(r.keywords or []),
        spec=dict(r.spec or {}),
        quantity=r.quantity,
        unit=r.unit,
        site_id=r.site_id,
        delivery=DeliveryPoint(latitude=r.delivery_latitude, longitude=r.delivery_longitude),
        deadline=r.deadline,
        required_certifications=list(r.required_certifications or []),
        preferred_certifications=list(r.preferred_certifications or []),
        max_distance_km=r.max_distance_km,
        budget_idr=r.budget_idr,
        status=r.status,
        awarded_quantity=r.awarded_quantity,
        allowed_actions=REQUEST.allowed(r.status),
        cancel_reason=r.cancel_reason,
        version=r.version,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def match_out(m: MatchRun) -> MatchOut:
    res = m.result
    return MatchOut(
        id=m.id,
        request_id=m.request_id,
        quantity_needed=res["quantity_needed"],
        created_at=m.created_at,
        feasible_count=res["feasible_count"],
        single_supplier_possible=res["single_supplier_possible"],
        weights=res["weights"],
        candidates=res["candidates"],
        bundles=res["bundles"],
    )


def order_out(
    o: PurchaseOrder, receipt: GoodsReceipt | None = None, invoice: Invoice | None = None
) -> OrderOut:
    return OrderOut(
        id=o.id,
        po_number=o.po_number,
        anchor_id=o.anchor_id,
        request_id=o.request_id,
        umkm_id=o.umkm_id,
        kbli_code=o.kbli_code,
        description=o.description,
        quantity=o.quantity,
        unit=o.unit,
        unit_price_idr=o.unit_price_idr,
        amount_idr=o.amount_idr,
        delivery_due_on=o.delivery_due_on,
        payment_terms_days=o.payment_terms_days,
        bundle_id=o.bundle_id,
        cluster_id=o.cluster_id,
        status=o.status,
        allowed_actions=ORDER.allowed(o.status),
        reason=o.reason,
        issued_at=o.issued_at,
        accepted_at=o.accepted_at,
        declined_at=o.declined_at,
        cancelled_at=o.cancelled_at,
        delivered_at=o.delivered_at,
        invoiced_at=o.invoiced_at,
        paid_at=o.paid_at,
        receipt=ReceiptOut.model_validate(receipt, from_attributes=True) if receipt else None,
        invoice=InvoiceOut.model_validate(invoice, from_attributes=True) if invoice else None,
    )
