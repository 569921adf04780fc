"""HTTP endpoints of the financing broker. Each opens one unit of work and commits it before
answering; every unsafe call takes an `Idempotency-Key`.

- `/v1/banks`, `/v1/kur-rules`, `/v1/loans/ageing`, `/v1/reports/...`: the ministry;
- `/v1/applications...`: the applicant's side — anchors, koperasi, Dinas (and the ministry, read);
- `/v1/anchor/...`: an anchor's programmes;
- `/v1/bank/...`: partner banks, with an OAuth2 token *and* a SNAP signature on every call.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from umkm_shared.auth import Actor, ClientStore, require_actor
from umkm_shared.errors import invalid
from umkm_shared.idempotency import Idempotency, IdempotencyDep
from umkm_shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor
from umkm_shared.web import problem_responses

from . import domain
from .context import FinancingContext
from .domain import KurRules
from .models import Application, ApplicationHistory, Bank, LimitLayer, Loan, Offer, Programme
from .models import Repayment as RepaymentRow
from .schemas import (
    AgeingIn,
    AgeingOut,
    AgreementIn,
    ApplicationCreate,
    ApplicationOut,
    BankApplicationOut,
    BankCreate,
    BankOnboarded,
    BankOut,
    CloseIn,
    ConfirmIn,
    DecisionIn,
    DisbursementIn,
    HistoryOut,
    InfoIn,
    KurRulesOut,
    LimitOut,
    LimitSet,
    LoanOut,
    OfferCreate,
    OfferOut,
    OrderOut,
    Portfolio,
    PortfolioRow,
    ProgrammeCreate,
    ProgrammeOut,
    ReasonIn,
    RepaymentIn,
    RepaymentOut,
    UmkmFactsOut,
)
from .service import Caller, FinancingService, today_wib
from .snap import SignedBankDep

router = APIRouter(prefix="/v1")
F = TypeVar("F", bound=Callable[..., Any])

Ministry = Annotated[Actor, Depends(require_actor("ministry"))]
Operator = Annotated[Actor, Depends(require_actor("ministry", "service"))]
Applicant = Annotated[
    Actor, Depends(require_actor("anchor", "koperasi", "dinas", "ministry", "service"))
]
AnchorOnly = Annotated[Actor, Depends(require_actor("anchor"))]
Reporter = Annotated[Actor, Depends(require_actor("ministry", "anchor", "service"))]
Status = Annotated[str | None, Query(description="Only applications in this status")]


def context(request: Request) -> FinancingContext:
    ctx: FinancingContext = request.app.state.financing
    return ctx


Ctx = Annotated[FinancingContext, Depends(context)]


def _after(cursor: str | None) -> uuid.UUID | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e


def _page(items: list[Any], rows: list[Any], limit: int) -> dict[str, Any]:
    more = len(rows) > limit
    return {
        "items": items[:limit],
        "next_cursor": encode_cursor(str(rows[limit - 1].id)) if more else None,
    }


# --- views -----------------------------------------------------------------------------------


def app_out(app: Application) -> ApplicationOut:
    return ApplicationOut(
        id=app.id,
        status=app.status,
        allowed_actions=domain.allowed_actions(app.status),
        product=app.product,
        umkm_id=app.umkm_id,
        anchor_id=app.anchor_id,
        po_id=app.po_id,
        invoice_id=app.invoice_id,
        amount_requested_idr=app.amount_requested_idr,
        tenor_days=app.tenor_days,
        purpose=app.purpose,
        opened_by_kind=app.opened_by_kind,
        opened_by_id=app.opened_by_id,
        prescreen=app.prescreen,
        rules_version=app.rules_version,
        confirmed_amount_idr=app.confirmed_amount_idr,
        accepted_offer_id=app.accepted_offer_id,
        bank_id=app.bank_id,
        referral_note=app.referral_note,
        version=app.version,
        created_at=app.created_at,
        updated_at=app.updated_at,
    )


def offer_out(o: Offer, bank_name: str | None = None) -> OfferOut:
    interest = domain.interest_idr(o.amount_idr, Decimal(o.rate_pa), o.tenor_days)
    return OfferOut(
        id=o.id,
        application_id=o.application_id,
        bank_id=o.bank_id,
        bank_name=bank_name,
        amount_idr=o.amount_idr,
        rate_pa=o.rate_pa,
        tenor_days=o.tenor_days,
        advance_pct=o.advance_pct,
        fees_idr=o.fees_idr,
        collateral_required=o.collateral_required,
        conditions=o.conditions,
        valid_until=o.valid_until,
        status=o.status,
        interest_idr=interest,
        total_cost_idr=interest + o.fees_idr,
        created_at=o.created_at,
    )


def repayment_out(r: RepaymentRow) -> RepaymentOut:
    return RepaymentOut.model_validate(r, from_attributes=True)


def loan_out(loan: Loan, repayments: list[RepaymentRow] | None = None) -> LoanOut:
    return LoanOut(
        id=loan.id,
        application_id=loan.application_id,
        bank_id=loan.bank_id,
        anchor_id=loan.anchor_id,
        umkm_id=loan.umkm_id,
        product=loan.product,
        principal_idr=loan.principal_idr,
        fees_idr=loan.fees_idr,
        rate_pa=loan.rate_pa,
        disbursed_on=loan.disbursed_on,
        maturity_on=loan.maturity_on,
        schedule=loan.schedule,
        principal_paid_idr=loan.principal_paid_idr,
        interest_paid_idr=loan.interest_paid_idr,
        interest_unpaid_idr=loan.interest_unpaid_idr,
        remainder_paid_out_idr=loan.remainder_paid_out_idr,
        outstanding_idr=loan.outstanding_idr,
        status=loan.status,
        kol=loan.kol,
        days_past_due=loan.days_past_due,
        kol_as_of=loan.kol_as_of,
        closure_reason=loan.closure_reason,
        repayments=[repayment_out(r) for r in repayments or []],
    )


def limit_out(layer: LimitLayer) -> LimitOut:
    return LimitOut(
        kind=layer.kind,
        programme_id=layer.programme_id,
        anchor_id=layer.anchor_id,
        umkm_id=layer.umkm_id,
        limit_idr=layer.limit_idr,
        reserved_idr=layer.reserved_idr,
        used_idr=layer.used_idr,
        available_idr=layer.limit_idr - layer.reserved_idr - layer.used_idr,
    )


def programme_out(p: Programme, layers: list[LimitLayer] | None = None) -> ProgrammeOut:
    return ProgrammeOut(
        id=p.id,
        bank_id=p.bank_id,
        anchor_id=p.anchor_id,
        name=p.name,
        products=p.products,
        supplier_sublimit_idr=p.supplier_sublimit_idr,
        status=p.status,
        created_at=p.created_at,
        limits=[limit_out(x) for x in layers or []],
    )


def history_out(h: ApplicationHistory) -> HistoryOut:
    return HistoryOut.model_validate(h, from_attributes=True)


def bank_out(b: Bank) -> BankOut:
    return BankOut.model_validate(b, from_attributes=True)


def portfolio(group_by: str, rows: list[dict[str, Any]]) -> Portfolio:
    def row(key: str | None, r: dict[str, Any]) -> PortfolioRow:
        by_kol = {str(k): int(r[f"kol{k}"]) for k in range(1, 6)}
        npl = sum(by_kol[str(k)] for k in domain.NPL_KOLS)
        outstanding = int(r["outstanding"])
        ratio = (
            (Decimal(npl) / Decimal(outstanding)).quantize(Decimal("0.0001"))
            if outstanding
            else Decimal(0)
        )
        return PortfolioRow(
            key=key,
            loans=int(r["loans"]),
            active_loans=int(r["active_loans"]),
            volume_idr=int(r["volume"]),
            outstanding_idr=outstanding,
            outstanding_by_kol=by_kol,
            npl_idr=npl,
            npl_ratio=ratio,
        )

    total: dict[str, Any] = {
        k: sum(int(r[k]) for r in rows)
        for k in (
            "loans",
            "active_loans",
            "volume",
            "outstanding",
            *(f"kol{i}" for i in range(1, 6)),
        )
    }
    return Portfolio(
        group_by=group_by,
        rows=[row(str(r["key"]) if r["key"] is not None else None, r) for r in rows],
        total=row(None, total),
    )


def created(model: Any, location: str | None = None) -> JSONResponse:
    headers = {"Location": location} if location else None
    return JSONResponse(model.model_dump(mode="json"), status_code=201, headers=headers)


# =============================================================================================
# Ministry: banks, KUR rules, ageing, reports
# =============================================================================================


@router.post(
    "/banks",
    status_code=201,
    response_model=BankOnboarded,
    tags=["banks"],
    responses=problem_responses(400, 401, 403, 409, 422, 503),
)
async def onboard_bank(
    body: BankCreate, actor: Ministry, ctx: Ctx, idem: IdempotencyDep, request: Request
) -> Response:
    """Onboard a partner bank: an OAuth2 client (client credentials, scope `financing:bank`)
    and a SNAP partner id and signing secret. Both secrets are shown only in this answer."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> Response:
            bank, client_secret, signing_secret, scopes = await service.onboard_bank(body)
            out = BankOnboarded(
                **bank_out(bank).model_dump(),
                client_secret=client_secret,
                signing_secret=signing_secret,
                scopes=scopes,
                token_url=str(request.url_for("issue_token").path),
            )
            return created(out, f"/v1/banks/{bank.id}")

        return await idem.run(session, actor.client_id, run, status_code=201)


@router.get("/banks", response_model=list[BankOut], tags=["banks"])
async def list_banks(actor: Ministry, ctx: Ctx) -> list[BankOut]:
    async with ctx.db.transaction() as session:
        return [bank_out(b) for b in await FinancingService(ctx, session, Caller(actor)).banks()]


def _rules_out(row: Any) -> KurRulesOut:
    return KurRulesOut(
        version=row.version,
        effective_from=row.effective_from,
        published_at=row.published_at,
        published_by=row.published_by,
        rules=KurRules.model_validate(row.rules),
    )


@router.get("/kur-rules", response_model=list[KurRulesOut], tags=["KUR rules"])
async def list_rules(ctx: Ctx, _: Annotated[Actor, Depends(require_actor())]) -> list[KurRulesOut]:
    """Every published version of the KUR rules (amounts, rate tiers, eligibility)."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(_))
        return [_rules_out(r) for r in await service.rules_versions()]


@router.get("/kur-rules/current", response_model=KurRules, tags=["KUR rules"])
async def current_rules(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require_actor())],
    on: Annotated[date | None, Query(description="Rules in force on this day")] = None,
) -> KurRules:
    async with ctx.db.transaction() as session:
        return await FinancingService(ctx, session, Caller(actor)).current_rules(on)


@router.post(
    "/kur-rules",
    status_code=201,
    response_model=KurRulesOut,
    tags=["KUR rules"],
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def publish_rules(
    body: KurRules, actor: Ministry, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Publish a new version of the KUR rules; it applies from its `effective_from` day to
    applications pre-screened from then on. Versions are immutable."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> Response:
            return created(_rules_out(await service.publish_rules(body)))

        return await idem.run(session, actor.client_id, run, status_code=201)


@router.post("/loans/ageing", response_model=AgeingOut, tags=["loans"])
async def age_loans(body: AgeingIn, actor: Operator, ctx: Ctx, idem: IdempotencyDep) -> Response:
    """Recompute days past due and SLIK kol of every active loan as of a day (default today);
    each kol change is published and sent to the bank and anchor. A worker runs this daily."""
    as_of = body.as_of or today_wib()
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> AgeingOut:
            loans, changed = await service.age_loans(as_of)
            return AgeingOut(as_of=as_of, loans=loans, changed=changed)

        return await idem.run(session, actor.client_id, run)


GroupBy = Annotated[Literal["bank", "anchor", "cluster", "product"], Query()]


@router.get("/reports/portfolio", response_model=Portfolio, tags=["reports"])
async def report(actor: Reporter, ctx: Ctx, group_by: GroupBy = "bank") -> Portfolio:
    """Volume (principal disbursed), outstanding, outstanding by SLIK kol and NPL (kol 3–5)
    per bank, anchor, cluster or product. An anchor sees only its own loans."""
    async with ctx.db.transaction() as session:
        rows = await FinancingService(ctx, session, Caller(actor)).portfolio(group_by)
    return portfolio(group_by, rows)


# =============================================================================================
# The applicant's side (anchor, koperasi, Dinas) and the anchor's confirmation
# =============================================================================================


@router.post(
    "/applications",
    status_code=201,
    response_model=ApplicationOut,
    tags=["applications"],
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def open_application(
    body: ApplicationCreate, actor: Applicant, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Open an application for an UMKM. With `po_id` (or `invoice_id`) the anchor, the UMKM,
    the amount and the tenor are pre-filled from the supply-chain events. Submitted at once
    (unless `submit` is false): the anchor is asked to confirm by webhook; an application
    opened by the anchor itself is confirmed, pre-screened and routed in the same call."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> Response:
            app = await service.open_application(body)
            return created(app_out(app), f"/v1/applications/{app.id}")

        return await idem.run(session, actor.client_id, run, status_code=201)


@router.get("/applications", response_model=Page[ApplicationOut], tags=["applications"])
async def list_applications(
    actor: Applicant,
    ctx: Ctx,
    status: Status = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Applications the caller may see (anchor: its suppliers'; koperasi/Dinas: those it
    opened; ministry: all), oldest first; follow `next_cursor`."""
    async with ctx.db.transaction() as session:
        rows = await FinancingService(ctx, session, Caller(actor)).list_applications(
            status, _after(cursor), limit + 1
        )
    return _page([app_out(a) for a in rows], rows, limit)


@router.get(
    "/applications/{app_id}",
    response_model=ApplicationOut,
    tags=["applications"],
    responses=problem_responses(401, 403, 404),
)
async def read_application(app_id: uuid.UUID, actor: Applicant, ctx: Ctx) -> ApplicationOut:
    async with ctx.db.transaction() as session:
        return app_out(await FinancingService(ctx, session, Caller(actor)).application(app_id))


@router.get(
    "/applications/{app_id}/history",
    response_model=list[HistoryOut],
    tags=["applications"],
    responses=problem_responses(401, 403, 404),
)
async def application_history(app_id: uuid.UUID, actor: Applicant, ctx: Ctx) -> list[HistoryOut]:
    """Every step of the application: who, when, from which status to which (the audit)."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))
        app = await service.application(app_id)
        return [history_out(h) for h in await service.history(app)]


def _step_route(path: str, summary: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = router.post(
        path,
        response_model=ApplicationOut,
        tags=["applications"],
        summary=summary,
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )
    return decorator


@_step_route("/applications/{app_id}/submit", "Submit a draft")
async def submit(app_id: uuid.UUID, actor: Applicant, ctx: Ctx, idem: IdempotencyDep) -> Response:
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> ApplicationOut:
            return app_out(await service.submit(app_id))

        return await idem.run(session, actor.client_id, run)


@_step_route("/applications/{app_id}/confirm", "The anchor confirms the order or invoice")
async def confirm(
    app_id: uuid.UUID, body: ConfirmIn, actor: AnchorOnly, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """The anchor confirms the underlying order or invoice and its payment undertaking (in
    answer to the `application.confirmation_requested` webhook). Pre-screening runs at once:
    the answer is `routed` (offered to the banks) or `prescreen_failed` with the reasons."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> ApplicationOut:
            return app_out(await service.confirm(app_id, body))

        return await idem.run(session, actor.client_id, run)


@_step_route("/applications/{app_id}/decline-confirmation", "The anchor refuses to confirm")
async def decline_confirmation(
    app_id: uuid.UUID, body: ReasonIn, actor: AnchorOnly, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> ApplicationOut:
            return app_out(await service.decline_confirmation(app_id, body.reason))

        return await idem.run(session, actor.client_id, run)


@router.get(
    "/applications/{app_id}/offers",
    response_model=list[OfferOut],
    tags=["applications"],
    responses=problem_responses(401, 403, 404),
)
async def compare_offers(app_id: uuid.UUID, actor: Applicant, ctx: Ctx) -> list[OfferOut]:
    """The banks' offers side by side, cheapest first (interest for the tenor + fees)."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))
        app = await service.application(app_id)
        offers = [offer_out(o, name) for o, name in await service.offers(app)]
    return sorted(offers, key=lambda o: (o.status != "open", o.total_cost_idr, -o.amount_idr))


@_step_route("/applications/{app_id}/offers/{offer_id}/accept", "Accept one offer")
async def accept_offer(
    app_id: uuid.UUID, offer_id: uuid.UUID, actor: Applicant, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Take one offer (the opener or the anchor); the others lapse and their reservations
    are released."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> ApplicationOut:
            return app_out(await service.accept_offer(app_id, offer_id))

        return await idem.run(session, actor.client_id, run)


@_step_route("/applications/{app_id}/info", "Answer the bank's referral")
async def provide_info(
    app_id: uuid.UUID, body: InfoIn, actor: Applicant, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> ApplicationOut:
            return app_out(await service.provide_info(app_id, body.response))

        return await idem.run(session, actor.client_id, run)


@_step_route("/applications/{app_id}/withdraw", "Withdraw before disbursement")
async def withdraw(
    app_id: uuid.UUID, body: ReasonIn, actor: Applicant, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))

        async def run() -> ApplicationOut:
            return app_out(await service.withdraw_by_applicant(app_id, body.reason))

        return await idem.run(session, actor.client_id, run)


@router.get(
    "/applications/{app_id}/loan",
    response_model=LoanOut,
    tags=["applications"],
    responses=problem_responses(401, 403, 404),
)
async def application_loan(app_id: uuid.UUID, actor: Applicant, ctx: Ctx) -> LoanOut:
    """The loan with every repayment and how it was split (interest, principal, to the UMKM)."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))
        loan = await service.loan_of(await service.application(app_id))
        if loan is None:
            from umkm_shared.errors import NotFound

            raise NotFound(detail=f"application {app_id} has no loan (yet)")
        return loan_out(loan, await service.repayments(loan))


@router.get("/anchor/programmes", response_model=list[ProgrammeOut], tags=["anchor"])
async def anchor_programmes(actor: AnchorOnly, ctx: Ctx) -> list[ProgrammeOut]:
    """The anchor's programmes with every bank, and their limits."""
    async with ctx.db.transaction() as session:
        service = FinancingService(ctx, session, Caller(actor))
        return [
            programme_out(p, await service.programme_layers(p))
            for p in await service.anchor_programmes()
        ]


# =============================================================================================
# Banks (OAuth2 token + SNAP signature on every call)
# =============================================================================================

bank = APIRouter(prefix="/v1/bank", tags=["bank"])
BANK_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


def _bank(signed: Any, ctx: FinancingContext, session: Any) -> FinancingService:
    return FinancingService(ctx, session, Caller(signed.actor, signed.bank_id))


async def _bank_step(
    signed: Any,
    ctx: FinancingContext,
    idem: Idempotency,
    step: Callable[[FinancingService], Awaitable[Any]],
    out: Callable[[Any], Any],
    *,
    created_: bool = False,
) -> Response:
    """One idempotent bank call: the service step in its transaction, the result shaped by
    `out` (201 Created when `created_`)."""
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)

        async def run() -> Any:
            result = out(await step(service))
            return created(result) if created_ else result

        status = 201 if created_ else 200
        return await idem.run(session, signed.actor.client_id, run, status_code=status)


@bank.post("/programmes", status_code=201, response_model=ProgrammeOut, responses=BANK_ERRORS)
async def create_programme(
    body: ProgrammeCreate, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """A facility with an anchor: programme limit, default per-supplier sub-limit, products
    and their terms, and (optionally) the bank's exposure cap on the anchor."""
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)

        async def run() -> Response:
            p = await service.create_programme(body)
            return created(programme_out(p, await service.programme_layers(p)))

        return await idem.run(session, signed.actor.client_id, run, status_code=201)


@bank.get("/programmes", response_model=list[ProgrammeOut], responses=BANK_ERRORS)
async def bank_programmes(signed: SignedBankDep, ctx: Ctx) -> list[ProgrammeOut]:
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)
        return [
            programme_out(p, await service.programme_layers(p))
            for p in await service.bank_programmes()
        ]


@bank.get("/programmes/{programme_id}", response_model=ProgrammeOut, responses=BANK_ERRORS)
async def bank_programme(programme_id: uuid.UUID, signed: SignedBankDep, ctx: Ctx) -> ProgrammeOut:
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)
        p = await service.bank_programme(programme_id)
        return programme_out(p, await service.programme_layers(p))


@bank.put(
    "/programmes/{programme_id}/suppliers/{umkm_id}",
    response_model=ProgrammeOut,
    responses=BANK_ERRORS,
)
async def set_supplier_limit(
    programme_id: uuid.UUID,
    umkm_id: uuid.UUID,
    body: LimitSet,
    signed: SignedBankDep,
    ctx: Ctx,
    idem: IdempotencyDep,
) -> Response:
    """Set one supplier's sub-limit (409 if below what it already has reserved and used)."""
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)

        async def run() -> ProgrammeOut:
            await service.set_supplier_limit(programme_id, umkm_id, body.limit_idr)
            p = await service.bank_programme(programme_id)
            return programme_out(p, await service.programme_layers(p))

        return await idem.run(session, signed.actor.client_id, run)


@bank.put("/anchors/{anchor_id}/exposure-cap", response_model=list[LimitOut], responses=BANK_ERRORS)
async def set_exposure_cap(
    anchor_id: uuid.UUID, body: LimitSet, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)

        async def run() -> list[LimitOut]:
            await service.set_exposure_cap(anchor_id, body.limit_idr)
            from . import limits

            layers = await limits.layers_for_bank(session, signed.bank_id, [])
            return [limit_out(x) for x in layers if x.anchor_id == anchor_id]

        return await idem.run(session, signed.actor.client_id, run)


@bank.get("/limits", response_model=list[LimitOut], responses=BANK_ERRORS)
async def bank_limits(signed: SignedBankDep, ctx: Ctx) -> list[LimitOut]:
    """Every limit layer of the bank: reserved, used, available."""
    from . import limits

    async with ctx.db.transaction() as session:
        return [limit_out(x) for x in await limits.layers_for_bank(session, signed.bank_id)]


@bank.post("/applications", status_code=201, response_model=ApplicationOut, responses=BANK_ERRORS)
async def bank_open_application(
    body: ApplicationCreate, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """A bank opens an application for an UMKM (its anchor still confirms it)."""
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)

        async def run() -> Response:
            app = await service.open_application(body)
            return created(app_out(app), f"/v1/bank/applications/{app.id}")

        return await idem.run(session, signed.actor.client_id, run, status_code=201)


@bank.get("/applications", response_model=Page[ApplicationOut], responses=BANK_ERRORS)
async def bank_queue(
    signed: SignedBankDep,
    ctx: Ctx,
    status: Status = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The queue of applications routed to this bank, oldest first; follow `next_cursor`."""
    async with ctx.db.transaction() as session:
        rows = await _bank(signed, ctx, session).bank_queue(status, _after(cursor), limit + 1)
    return _page([app_out(a) for a in rows], rows, limit)


@bank.get("/applications/{app_id}", response_model=BankApplicationOut, responses=BANK_ERRORS)
async def bank_read_application(
    app_id: uuid.UUID, signed: SignedBankDep, ctx: Ctx
) -> BankApplicationOut:
    """The application with the UMKM facts the bank needs. The owner's NIK is masked unless the
    owner consented to share it; each unmasked read is logged."""
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)
        app, _ = await service.bank_application(app_id)
        facts, nik = await service.umkm_view(app)
        order = None
        if app.po_id is not None:
            from .models import PurchaseOrder

            po = await session.get(PurchaseOrder, app.po_id)
            if po is not None:
                order = OrderOut.model_validate(po, from_attributes=True)
    umkm = UmkmFactsOut(
        umkm_id=app.umkm_id,
        business_name=facts.business_name if facts else None,
        owner_nik_masked=facts.owner_nik_masked if facts else None,
        owner_nik=nik,
        npwp=facts.npwp if facts else None,
        nib=facts.nib if facts else None,
        founded_on=facts.founded_on if facts else None,
        scale=facts.scale if facts else None,
        kbli_code=facts.kbli_code if facts else None,
        province_code=facts.province_code if facts else None,
        regency_code=facts.regency_code if facts else None,
    )
    return BankApplicationOut(
        **app_out(app).model_dump(),
        umkm=umkm,
        order=order,
        prior_kur_count_declared=app.prior_kur_count_declared,
        bpjs_ketenagakerjaan=app.bpjs_ketenagakerjaan,
    )


@bank.get("/applications/{app_id}/offers", response_model=list[OfferOut], responses=BANK_ERRORS)
async def bank_offers(app_id: uuid.UUID, signed: SignedBankDep, ctx: Ctx) -> list[OfferOut]:
    """This bank's own offer on the application (never another bank's)."""
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)
        app, _ = await service.bank_application(app_id)
        return [offer_out(o, n) for o, n in await service.offers(app)]


@bank.post(
    "/applications/{app_id}/offers",
    status_code=201,
    response_model=OfferOut,
    responses=BANK_ERRORS,
)
async def make_offer(
    app_id: uuid.UUID, body: OfferCreate, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Bid: amount, rate, tenor, advance %, fees. The amount is reserved against the
    programme's limits at once (409 naming the layer when it does not fit). For KUR the rate
    is fixed by the rules in force."""
    return await _bank_step(
        signed, ctx, idem, lambda s: s.make_offer(app_id, body), offer_out, created_=True
    )


@bank.post("/applications/{app_id}/decision", response_model=ApplicationOut, responses=BANK_ERRORS)
async def decide(
    app_id: uuid.UUID, body: DecisionIn, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Approve, reject (the reservation is released) or refer back for more information."""
    return await _bank_step(signed, ctx, idem, lambda s: s.decide(app_id, body), app_out)


@bank.post("/applications/{app_id}/agreement", response_model=ApplicationOut, responses=BANK_ERRORS)
async def agreement(
    app_id: uuid.UUID, body: AgreementIn, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    return await _bank_step(signed, ctx, idem, lambda s: s.sign_agreement(app_id, body), app_out)


@bank.post(
    "/applications/{app_id}/disbursement",
    status_code=201,
    response_model=LoanOut,
    responses=BANK_ERRORS,
)
async def disburse(
    app_id: uuid.UUID, body: DisbursementIn, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Report the disbursement: the loan starts, the reserved amount becomes used."""
    return await _bank_step(
        signed, ctx, idem, lambda s: s.disburse(app_id, body), loan_out, created_=True
    )


@bank.get("/loans", response_model=Page[LoanOut], responses=BANK_ERRORS)
async def bank_loans(
    signed: SignedBankDep, ctx: Ctx, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        rows = await _bank(signed, ctx, session).bank_loans(_after(cursor), limit + 1)
    return _page([loan_out(x) for x in rows], rows, limit)


@bank.get("/loans/{loan_id}", response_model=LoanOut, responses=BANK_ERRORS)
async def bank_loan(loan_id: uuid.UUID, signed: SignedBankDep, ctx: Ctx) -> LoanOut:
    async with ctx.db.transaction() as session:
        service = _bank(signed, ctx, session)
        loan = await service.bank_loan(loan_id)
        return loan_out(loan, await service.repayments(loan))


@bank.post(
    "/loans/{loan_id}/repayments",
    status_code=201,
    response_model=RepaymentOut,
    responses=BANK_ERRORS,
)
async def report_repayment(
    loan_id: uuid.UUID, body: RepaymentIn, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """A repayment the bank received outside the anchor's invoice payment: interest first,
    then principal, any surplus back to the UMKM. The same `reference` applies once."""
    return await _bank_step(
        signed, ctx, idem, lambda s: s.report_repayment(loan_id, body), repayment_out, created_=True
    )


@bank.post("/loans/{loan_id}/close", response_model=LoanOut, responses=BANK_ERRORS)
async def close_loan(
    loan_id: uuid.UUID, body: CloseIn, signed: SignedBankDep, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """Close a loan as written off or restructured (a paid loan closes by itself)."""
    return await _bank_step(signed, ctx, idem, lambda s: s.close_loan(loan_id, body), loan_out)


@bank.get("/reports/portfolio", response_model=Portfolio, responses=BANK_ERRORS)
async def bank_report(signed: SignedBankDep, ctx: Ctx, group_by: GroupBy = "anchor") -> Portfolio:
    """The bank's own portfolio by anchor, cluster or product."""
    async with ctx.db.transaction() as session:
        rows = await _bank(signed, ctx, session).portfolio(group_by)
    return portfolio(group_by, rows)


async def client_store(ctx: Ctx) -> AsyncIterator[ClientStore]:
    async with ctx.db.transaction() as session:
        yield ClientStore(session)
