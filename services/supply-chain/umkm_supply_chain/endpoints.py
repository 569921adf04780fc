"""HTTP endpoints of the supply-chain service. Each opens one unit of work and commits it
before answering; unsafe partner calls take an `Idempotency-Key`.

No `from __future__ import annotations`: the step endpoints are built in functions and FastAPI
must see their real annotations (locals would not resolve later)."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from umkm_shared.auth import Actor, ActorKind, ClientStore, require_actor
from umkm_shared.errors import Forbidden, NotFound
from umkm_shared.idempotency import Idempotency, IdempotencyDep, OptionalIdempotencyDep
from umkm_shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor
from umkm_shared.web import problem_responses

from .context import SupplyChainContext
from .repository import actor_uuid
from .schemas import (
    AnchorCreate,
    AnchorOut,
    AnchorPatch,
    AwardCreate,
    AwardOut,
    BatchItemError,
    ClientCreate,
    ClientOut,
    InvoiceCreate,
    MatchOptions,
    MatchOut,
    OrderOut,
    PaymentCreate,
    Reason,
    ReceiptCreate,
    RequestCreate,
    RequestOut,
    SiteCreate,
    SiteOut,
    SupplierBatch,
    SupplierBatchOut,
    SupplierOut,
    SupplierPatch,
)
from .service import SupplyChainService
from .views import anchor_out, match_out, order_out, request_out, site_out, supplier_out

router = APIRouter(prefix="/v1")

# Authorisation is by actor kind and ownership (anchor, koperasi members, Dinas wilayah), not by
# scope: the platform's other clients (a Dinas or the ministry registered at the registry) carry
# registry scopes only and must work here too. Anchor clients made here get both scopes anyway.
KINDS = ("ministry", "anchor", "koperasi", "dinas")
Reader = Annotated[Actor, Depends(require_actor(*KINDS))]
Writer = Annotated[Actor, Depends(require_actor(*KINDS))]


def context(request: Request) -> SupplyChainContext:
    ctx: SupplyChainContext = request.app.state.supply_chain
    return ctx


Ctx = Annotated[SupplyChainContext, Depends(context)]


def _after(cursor: str | None) -> uuid.UUID | None:
    from umkm_shared.errors import invalid

    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e


def _page(
    items: list[Any], rows: list[Any], limit: int, key: Callable[[Any], Any]
) -> dict[str, Any]:
    more = len(rows) > limit
    return {
        "items": items[:limit],
        "next_cursor": encode_cursor(str(key(rows[limit - 1]))) if more else None,
    }


async def _unit(
    ctx: SupplyChainContext,
    actor: Actor,
    idem: Idempotency,
    work: Callable[[SupplyChainService], Awaitable[BaseModel]],
    status_code: int = 200,
) -> Response:
    """One transaction: run `work`, remember its answer under the Idempotency-Key."""
    async with ctx.db.transaction() as session:
        service = SupplyChainService(session, actor, ctx)

        async def run() -> BaseModel:
            return await work(service)

        return await idem.run(session, actor.client_id, run, status_code=status_code)


# --- anchors -------------------------------------------------------------------------------

anchors = APIRouter(tags=["anchors"])


@anchors.post(
    "/anchors",
    status_code=201,
    response_model=AnchorOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def register_anchor(
    body: AnchorCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """The ministry onboards an anchor company (event AnchorRegistered)."""

    async def work(s: SupplyChainService) -> BaseModel:
        return anchor_out(await s.register_anchor(body))

    return await _unit(ctx, actor, idem, work, 201)


@anchors.get("/anchors", response_model=Page[AnchorOut], responses=problem_responses(401, 403))
async def list_anchors(
    actor: Reader, ctx: Ctx, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The ministry sees every anchor; an anchor sees itself."""
    async with ctx.db.transaction() as session:
        rows = await SupplyChainService(session, actor, ctx).list_anchors(_after(cursor), limit + 1)
    return _page([anchor_out(r) for r in rows], rows, limit, lambda r: r.id)


@anchors.get(
    "/anchors/{anchor_id}", response_model=AnchorOut, responses=problem_responses(401, 403, 404)
)
async def get_anchor(anchor_id: uuid.UUID, actor: Reader, ctx: Ctx) -> AnchorOut:
    async with ctx.db.transaction() as session:
        return anchor_out(await SupplyChainService(session, actor, ctx).get_anchor(anchor_id))


@anchors.patch(
    "/anchors/{anchor_id}",
    response_model=AnchorOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_anchor(
    anchor_id: uuid.UUID, body: AnchorPatch, actor: Writer, ctx: Ctx
) -> AnchorOut:
    """The ministry changes an anchor (also `status: suspended`); event AnchorUpdated."""
    async with ctx.db.transaction() as session:
        row = await SupplyChainService(session, actor, ctx).update_anchor(anchor_id, body)
        return anchor_out(row)


@anchors.post(
    "/anchors/{anchor_id}/sites",
    status_code=201,
    response_model=SiteOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def add_site(
    anchor_id: uuid.UUID, body: SiteCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """A delivery site (plant, warehouse) of the anchor."""

    async def work(s: SupplyChainService) -> BaseModel:
        return site_out(await s.add_site(anchor_id, body))

    return await _unit(ctx, actor, idem, work, 201)


@anchors.get(
    "/anchors/{anchor_id}/sites",
    response_model=list[SiteOut],
    responses=problem_responses(401, 403, 404),
)
async def list_sites(anchor_id: uuid.UUID, actor: Reader, ctx: Ctx) -> list[SiteOut]:
    async with ctx.db.transaction() as session:
        return [site_out(r) for r in await SupplyChainService(session, actor, ctx).sites(anchor_id)]


@anchors.post(
    "/anchors/{anchor_id}/clients",
    status_code=201,
    response_model=ClientOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def create_client(
    anchor_id: uuid.UUID, body: ClientCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """OAuth client credentials for the anchor's systems (`POST /v1/oauth/token`). The secret
    is shown once."""

    async def work(s: SupplyChainService) -> BaseModel:
        client_id, secret = await s.create_client(anchor_id, body.name)
        return ClientOut(
            client_id=client_id,
            client_secret=secret,
            name=body.name,
            actor_kind="anchor",
            actor_id=str(anchor_id),
            scopes=["supply-chain:read", "supply-chain:write"],
        )

    return await _unit(ctx, actor, idem, work, 201)


@anchors.get(
    "/anchors/{anchor_id}/clients",
    response_model=list[ClientOut],
    responses=problem_responses(401, 403, 404),
)
async def list_clients(anchor_id: uuid.UUID, actor: Reader, ctx: Ctx) -> list[ClientOut]:
    async with ctx.db.transaction() as session:
        clients = await SupplyChainService(session, actor, ctx).clients(anchor_id)
    return [
        ClientOut(
            client_id=c.client_id,
            name=c.name,
            actor_kind=c.kind.value,
            actor_id=c.actor_id,
            scopes=sorted(c.scopes),
            created_at=c.created_at,
            disabled_at=c.disabled_at,
        )
        for c in clients
    ]


@anchors.post(
    "/anchors/{anchor_id}/clients/{client_id}/disable",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
async def disable_client(anchor_id: uuid.UUID, client_id: str, actor: Writer, ctx: Ctx) -> None:
    async with ctx.db.transaction() as session:
        await SupplyChainService(session, actor, ctx).disable_client(anchor_id, client_id)


# --- suppliers -----------------------------------------------------------------------------

suppliers = APIRouter(tags=["suppliers"])


@suppliers.get(
    "/suppliers", response_model=Page[SupplierOut], responses=problem_responses(401, 403, 422)
)
async def list_suppliers(
    actor: Reader,
    ctx: Ctx,
    kbli: Annotated[str | None, Query(pattern=r"^\d{1,5}$", description="KBLI prefix")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Ministry: all; Dinas: its wilayah; koperasi: its members; anchor: suppliers it was
    shown by a match or ordered from."""
    async with ctx.db.transaction() as session:
        rows = await SupplyChainService(session, actor, ctx).suppliers(
            _after(cursor), limit + 1, kbli
        )
    return _page([supplier_out(r, p) for r, p in rows], rows, limit, lambda r: r[0].umkm_id)


@suppliers.post(
    "/suppliers/batch",
    response_model=SupplierBatchOut,
    responses=problem_responses(400, 401, 403, 422),
)
async def enrich_suppliers(
    body: SupplierBatch, actor: Writer, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Up to 500 profile updates in one call (a Dinas or koperasi sending its batch). Each item
    is applied like `PATCH /v1/suppliers/{umkm_id}`; an item the caller may not change (or
    that does not exist) is reported in `errors` and the others are applied."""

    async def work(s: SupplyChainService) -> BaseModel:
        errors = []
        for i, item in enumerate(body.items):
            patch = SupplierPatch.model_validate(
                item.model_dump(include=item.model_fields_set - {"umkm_id"})
            )
            try:
                await s.enrich_supplier(item.umkm_id, patch)
            except NotFound as e:
                errors.append(
                    BatchItemError(index=i, umkm_id=item.umkm_id, status=404, detail=e.detail)
                )
        return SupplierBatchOut(updated=len(body.items) - len(errors), errors=errors)

    return await _unit(ctx, actor, idem, work)


@suppliers.get(
    "/suppliers/{umkm_id}", response_model=SupplierOut, responses=problem_responses(401, 403, 404)
)
async def get_supplier(umkm_id: uuid.UUID, actor: Reader, ctx: Ctx) -> SupplierOut:
    async with ctx.db.transaction() as session:
        row, products = await SupplyChainService(session, actor, ctx).supplier(umkm_id)
    return supplier_out(row, products)


@suppliers.patch(
    "/suppliers/{umkm_id}",
    response_model=SupplierOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def enrich_supplier(
    umkm_id: uuid.UUID, body: SupplierPatch, actor: Writer, ctx: Ctx
) -> SupplierOut:
    """The UMKM's Dinas or koperasi (or an anchor that ordered from it) declares products with
    monthly capacity, certifications, sites and lead time. Lists replace the stored ones."""
    async with ctx.db.transaction() as session:
        row, products = await SupplyChainService(session, actor, ctx).enrich_supplier(umkm_id, body)
    return supplier_out(row, products)


# --- procurement requests ------------------------------------------------------------------

requests = APIRouter(tags=["procurement"])


@requests.post(
    "/procurement-requests",
    status_code=201,
    response_model=RequestOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_request(
    body: RequestCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """An anchor asks for a product (KBLI and/or keywords), quantity, site and deadline."""

    async def work(s: SupplyChainService) -> BaseModel:
        return request_out(await s.create_request(body))

    return await _unit(ctx, actor, idem, work, 201)


@requests.get(
    "/procurement-requests",
    response_model=Page[RequestOut],
    responses=problem_responses(401, 403, 422),
)
async def list_requests(
    actor: Reader,
    ctx: Ctx,
    status: Annotated[
        Literal["draft", "open", "partly_awarded", "awarded", "closed", "cancelled"] | None,
        Query(),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        rows = await SupplyChainService(session, actor, ctx).requests(
            status, _after(cursor), limit + 1
        )
    return _page([request_out(r) for r in rows], rows, limit, lambda r: r.id)


@requests.get(
    "/procurement-requests/{request_id}",
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404),
)
async def get_request(request_id: uuid.UUID, actor: Reader, ctx: Ctx) -> RequestOut:
    async with ctx.db.transaction() as session:
        return request_out(await SupplyChainService(session, actor, ctx).request(request_id))


def _request_step(action: str, summary: str) -> None:
    async def endpoint(
        request_id: uuid.UUID,
        actor: Writer,
        ctx: Ctx,
        idem: OptionalIdempotencyDep,
        body: Reason | None = None,
    ) -> Response:
        async def work(s: SupplyChainService) -> BaseModel:
            reason = body.reason if body else None
            return request_out(await s.request_step(request_id, action, reason))

        return await _unit(ctx, actor, idem, work)

    endpoint.__name__ = f"{action}_request"
    requests.post(
        f"/procurement-requests/{{request_id}}/{action}",
        response_model=RequestOut,
        summary=summary,
        responses=problem_responses(401, 403, 404, 409, 422),
    )(endpoint)


_request_step("open", "Open a draft request")
_request_step("cancel", "Cancel a request (draft or open)")
_request_step("close", "Close an awarded request")


@requests.post(
    "/procurement-requests/{request_id}/matches",
    status_code=201,
    response_model=MatchOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def run_match(
    request_id: uuid.UUID,
    actor: Writer,
    ctx: Ctx,
    idem: OptionalIdempotencyDep,
    body: MatchOptions | None = None,
) -> Response:
    """Rank suppliers for the quantity still needed (score with its breakdown) and, when no
    single supplier can deliver it, propose bundles. The result is kept for the award."""
    opts = body or MatchOptions()

    async def work(s: SupplyChainService) -> BaseModel:
        return match_out(await s.run_match(request_id, opts.always_bundles, opts.limit))

    return await _unit(ctx, actor, idem, work, 201)


@requests.get(
    "/procurement-requests/{request_id}/matches/latest",
    response_model=MatchOut,
    responses=problem_responses(401, 403, 404),
)
async def latest_match(request_id: uuid.UUID, actor: Reader, ctx: Ctx) -> MatchOut:
    async with ctx.db.transaction() as session:
        return match_out(await SupplyChainService(session, actor, ctx).latest_match(request_id))


@requests.get(
    "/matches/{match_id}", response_model=MatchOut, responses=problem_responses(401, 403, 404)
)
async def get_match(match_id: uuid.UUID, actor: Reader, ctx: Ctx) -> MatchOut:
    async with ctx.db.transaction() as session:
        return match_out(await SupplyChainService(session, actor, ctx).match_run(match_id))


@requests.post(
    "/procurement-requests/{request_id}/awards",
    status_code=201,
    response_model=AwardOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def award(
    request_id: uuid.UUID, body: AwardCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Award a bundle or chosen suppliers of a match: one purchase order per supplier (event
    PurchaseOrderIssued each); the request becomes partly_awarded or awarded."""

    async def work(s: SupplyChainService) -> BaseModel:
        req, orders = await s.award(request_id, body)
        return AwardOut(request=request_out(req), orders=[order_out(o) for o in orders])

    return await _unit(ctx, actor, idem, work, 201)


# --- purchase orders -----------------------------------------------------------------------

orders = APIRouter(tags=["purchase orders"])


@orders.get(
    "/purchase-orders", response_model=Page[OrderOut], responses=problem_responses(401, 403, 422)
)
async def list_orders(
    actor: Reader,
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=20)] = None,
    request_id: uuid.UUID | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """An anchor sees its own orders; a koperasi its members'; a Dinas its wilayah's."""
    async with ctx.db.transaction() as session:
        rows = await SupplyChainService(session, actor, ctx).orders(
            status, request_id, _after(cursor), limit + 1
        )
    return _page([order_out(r) for r in rows], rows, limit, lambda r: r.id)


@orders.get(
    "/purchase-orders/{po_id}", response_model=OrderOut, responses=problem_responses(401, 403, 404)
)
async def get_order(po_id: uuid.UUID, actor: Reader, ctx: Ctx) -> OrderOut:
    async with ctx.db.transaction() as session:
        return order_out(*await SupplyChainService(session, actor, ctx).order(po_id))


def _order_step(
    action: str, path: str, body_type: type[BaseModel] | None, summary: str, required: bool
) -> None:
    Idem = IdempotencyDep if required else OptionalIdempotencyDep

    if body_type is None:

        async def endpoint(
            po_id: uuid.UUID,
            actor: Writer,
            ctx: Ctx,
            idem: Idem,  # type: ignore[valid-type]
            body: Reason | None = None,
        ) -> Response:
            async def work(s: SupplyChainService) -> BaseModel:
                return order_out(*await s.order_step(po_id, action, body or Reason()))

            return await _unit(ctx, actor, idem, work)

    else:

        async def endpoint(  # type: ignore[misc]
            po_id: uuid.UUID,
            body: body_type,  # type: ignore[valid-type]
            actor: Writer,
            ctx: Ctx,
            idem: Idem,  # type: ignore[valid-type]
        ) -> Response:
            async def work(s: SupplyChainService) -> BaseModel:
                return order_out(*await s.order_step(po_id, action, body))

            return await _unit(ctx, actor, idem, work)

    endpoint.__name__ = f"{action}_order"
    orders.post(
        f"/purchase-orders/{{po_id}}/{path}",
        response_model=OrderOut,
        summary=summary,
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )(endpoint)


_order_step("accept", "accept", None, "The supplier accepts (its koperasi or Dinas)", False)
_order_step("decline", "decline", None, "The supplier declines (its koperasi or Dinas)", False)
_order_step("cancel", "cancel", None, "The anchor cancels before delivery", False)
_order_step("receive", "goods-receipt", ReceiptCreate, "The anchor records the BAST", True)
_order_step("invoice", "invoice", InvoiceCreate, "The supplier invoices accepted goods", True)
_order_step("pay", "payment", PaymentCreate, "The anchor pays the invoice", True)

router.include_router(anchors)
router.include_router(suppliers)
router.include_router(requests)
router.include_router(orders)


# --- plumbing for the token endpoint and the webhook API -----------------------------------


async def client_store(ctx: Ctx) -> AsyncIterator[ClientStore]:
    async with ctx.db.transaction() as session:
        yield ClientStore(session)


async def webhook_owner(
    actor: Annotated[Actor, Depends(require_actor("anchor"))],
) -> tuple[str, str]:
    """Webhook endpoints belong to the calling anchor."""
    anchor = actor_uuid(actor) if actor.kind is ActorKind.ANCHOR else None
    if anchor is None:
        raise Forbidden(detail="only an anchor company has webhook endpoints here")
    return "anchor", str(anchor)
