"""Financing use cases. They work inside the caller's transaction and never commit.

Access (DOMAIN.md "who may see what"): the ministry reads everything; a bank sees only the
applications routed to it (or that it opened), its own offers, loans, programmes and limits; an
anchor sees its programmes and its suppliers' applications; a koperasi or Dinas sees the
applications it opened. Anything else is answered 404, exactly as for an id that does not exist,
so guessing ids tells nothing.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind, ClientStore
from umkm_shared.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid
from umkm_shared.events.base import EventPayload
from umkm_shared.events.financing import (
    AgreementSigned,
    ApplicationApproved,
    ApplicationConfirmationDeclined,
    ApplicationConfirmed,
    ApplicationInfoProvided,
    ApplicationPrescreenFailed,
    ApplicationReferred,
    ApplicationRejected,
    ApplicationRouted,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    LimitReleased,
    LimitReserved,
    LoanClosed,
    LoanDisbursed,
    LoanKolChanged,
    OfferAccepted,
    OfferLapsed,
    OfferMade,
    RepaymentApplied,
)
from umkm_shared.ids import new_id

from . import domain, limits
from .context import FinancingContext
from .domain import KurRules
from .models import (
    Anchor,
    Application,
    ApplicationHistory,
    ApplicationRoute,
    Bank,
    KurRulesVersion,
    LimitLayer,
    Loan,
    Offer,
    PiiAccessLog,
    Programme,
    PurchaseOrder,
    Repayment,
    UmkmCluster,
    UmkmFacts,
)
from .schemas import (
    AgreementIn,
    ApplicationCreate,
    BankCreate,
    CloseIn,
    ConfirmIn,
    DecisionIn,
    DisbursementIn,
    OfferCreate,
    ProgrammeCreate,
    RepaymentIn,
)
from .snap import BANK_SCOPE, WIB

OPENER_KINDS = ("anchor", "koperasi", "dinas", "bank", "ministry")

# The webhook event type of each step (the same names as the Kafka events).
WEBHOOK_TYPES = {
    "submit": "application.submitted",
    "confirm": "application.routed",
    "prescreen_fail": "application.prescreen_failed",
    "decline_confirmation": "application.confirmation_declined",
    "make_offer": "offer.made",
    "accept_offer": "offer.accepted",
    "approve": "application.approved",
    "reject": "application.rejected",
    "refer": "application.referred",
    "provide_info": "application.info_provided",
    "withdraw": "application.withdrawn",
    "sign_agreement": "agreement.signed",
    "disburse": "loan.disbursed",
    "repay": "loan.repayment_applied",
    "close": "loan.closed",
}


def today_wib() -> date:
    return datetime.now(UTC).astimezone(WIB).date()


def _now() -> datetime:
    return datetime.now(UTC)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


def _not_found(what: str, ident: object) -> NotFound:
    return NotFound(detail=f"{what} {ident} does not exist")


@dataclass(frozen=True)
class Caller:
    """Who acts: the token's actor, and for banks the verified bank id."""

    actor: Actor
    bank_id: uuid.UUID | None = None

    @property
    def kind(self) -> str:
        return self.actor.kind.value

    @property
    def org_id(self) -> str | None:
        """The organisation an application records as its opener."""
        if self.bank_id is not None:
            return str(self.bank_id)
        if self.actor.kind is ActorKind.DINAS:
            return self.actor.wilayah
        return self.actor.actor_id


class FinancingService:
    def __init__(self, ctx: FinancingContext, session: AsyncSession, caller: Caller) -> None:
        self.ctx = ctx
        self.session = session
        self.caller = caller

    # ==========================================================================================
    # Access
    # ==========================================================================================

    def _can_see(self, app: Application) -> bool:
        c = self.caller
        if c.kind in ("ministry", "service"):
            return True
        if c.bank_id is not None:
            return False  # banks go through _bank_application (routes)
        if c.kind == "anchor":
            return str(app.anchor_id) == c.actor.actor_id
        if c.kind == "koperasi":
            return app.opened_by_kind == "koperasi" and app.opened_by_id == c.actor.actor_id
        if c.kind == "dinas" and c.actor.wilayah:
            w = c.actor.wilayah
            return app.opened_by_kind == "dinas" and (
                app.opened_by_id == w or (app.opened_by_id or "").startswith(w + ".")
            )
        return False

    def _visible_filter(self) -> Any:
        c = self.caller
        if c.kind in ("ministry", "service"):
            return true()
        if c.kind == "anchor":
            anchor = _uuid(c.actor.actor_id)
            return Application.anchor_id == anchor if anchor else false()
        if c.kind == "koperasi":
            return and_(
                Application.opened_by_kind == "koperasi",
                Application.opened_by_id == c.actor.actor_id,
            )
        if c.kind == "dinas" and c.actor.wilayah:
            w = c.actor.wilayah
            return and_(
                Application.opened_by_kind == "dinas",
                or_(Application.opened_by_id == w, Application.opened_by_id.startswith(w + ".")),
            )
        return false()

    async def application(self, app_id: uuid.UUID, *, for_update: bool = False) -> Application:
        """An application the (non-bank) caller may see, else 404."""
        stmt = select(Application).where(Application.id == app_id)
        if for_update:
            stmt = stmt.with_for_update()
        app = (await self.session.execute(stmt)).scalar_one_or_none()
        if app is None or not self._can_see(app):
            raise _not_found("application", app_id)
        return app

    async def bank_application(
        self, app_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[Application, ApplicationRoute | None]:
        """An application routed to (or opened by) the calling bank, else 404."""
        bank_id = self.caller.bank_id
        assert bank_id is not None
        stmt = select(Application).where(Application.id == app_id)
        if for_update:
            stmt = stmt.with_for_update()
        app = (await self.session.execute(stmt)).scalar_one_or_none()
        route = await self.session.get(ApplicationRoute, (app_id, bank_id))
        if app is None:
            raise _not_found("application", app_id)
        opened = app.opened_by_kind == "bank" and app.opened_by_id == str(bank_id)
        if route is None and not opened:
            raise _not_found("application", app_id)
        return app, route

    def _require_anchor_of(self, app: Application) -> None:
        if not (self.caller.kind == "anchor" and self.caller.actor.actor_id == str(app.anchor_id)):
            raise Conflict(
                detail="only the application's anchor can do this",
                extra={"allowed_actor": "anchor"},
            )

    def _is_applicant_side(self, app: Application) -> bool:
        c = self.caller
        if c.kind == "anchor" and c.actor.actor_id == str(app.anchor_id):
            return True
        return app.opened_by_kind == c.kind and app.opened_by_id == c.org_id

    # ==========================================================================================
    # Steps: the state machine, history, events, webhooks
    # ==========================================================================================

    async def _step(
        self, app: Application, action: str, detail: dict[str, Any] | None = None
    ) -> str:
        before = app.status
        after = domain.next_status(before, action)
        app.status = after
        app.version += 1
        app.updated_at = _now()
        self.session.add(
            ApplicationHistory(
                application_id=app.id,
                action=action,
                from_status=before,
                to_status=after,
                actor_kind=self.caller.kind,
                actor_id=self.caller.org_id,
                client_id=self.caller.actor.client_id,
                detail=detail or {},
            )
        )
        await self._notify(app, action, before, after, detail or {})
        return after

    async def _emit(self, payload: EventPayload) -> None:
        await self.ctx.outbox.enqueue(self.session, payload)

    async def _routed_banks(self, app_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(ApplicationRoute.bank_id).where(ApplicationRoute.application_id == app_id)
        )
        return list(rows)

    async def _notify(
        self, app: Application, action: str, before: str, after: str, detail: dict[str, Any]
    ) -> None:
        if self.ctx.webhooks is None:
            return
        payload = {
            "application_id": str(app.id),
            "action": action,
            "from_status": before,
            "status": after,
            "product": app.product,
            "umkm_id": str(app.umkm_id),
            "anchor_id": str(app.anchor_id),
            "po_id": str(app.po_id) if app.po_id else None,
            "detail": detail,
        }
        key = str(app.id)
        event_type = WEBHOOK_TYPES[action]
        await self.ctx.notify(self.session, "anchor", app.anchor_id, event_type, payload, key)
        banks: set[uuid.UUID] = set()
        if action in ("confirm", "withdraw"):
            banks.update(await self._routed_banks(app.id))
        if app.bank_id is not None and action not in ("confirm", "make_offer"):
            banks.add(app.bank_id)
        for bank_id in sorted(banks):
            await self.ctx.notify(self.session, "bank", bank_id, event_type, payload, key)

    # ==========================================================================================
    # Banks (ministry onboards them)
    # ==========================================================================================

    async def onboard_bank(self, body: BankCreate) -> tuple[Bank, str, str, list[str]]:
        box = self.ctx.require_box()
        if await self.session.scalar(select(Bank.id).where(Bank.code == body.code)):
            raise Conflict(
                detail=f"a bank with code {body.code} exists", extra={"field": "body.code"}
            )
        bank_id = new_id()
        scopes = [BANK_SCOPE]
        client_id, client_secret = await ClientStore(self.session).create_client(
            name=body.name, kind="bank", scopes=scopes, actor_id=str(bank_id)
        )
        signing_secret = "snap_" + secrets.token_urlsafe(48)
        bank = Bank(
            id=bank_id,
            name=body.name,
            code=body.code,
            partner_id=f"{body.code}-{secrets.token_hex(4).upper()}",
            client_id=client_id,
            signing_secret_encrypted=box.seal(signing_secret),
            status="active",
            created_at=_now(),
        )
        self.session.add(bank)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as e:  # a concurrent onboarding took the code
            raise Conflict(
                detail=f"a bank with code {body.code} exists", extra={"field": "body.code"}
            ) from e
        return bank, client_secret, signing_secret, scopes

    async def banks(self) -> list[Bank]:
        return list(await self.session.scalars(select(Bank).order_by(Bank.created_at, Bank.id)))

    # ==========================================================================================
    # KUR rules
    # ==========================================================================================

    async def current_rules(self, on: date | None = None) -> KurRules:
        row = await self.session.scalar(
            select(KurRulesVersion)
            .where(KurRulesVersion.effective_from <= (on or today_wib()))
            .order_by(KurRulesVersion.effective_from.desc(), KurRulesVersion.published_at.desc())
            .limit(1)
        )
        if row is None:
            raise Conflict(detail="no KUR rules are in force")
        return KurRules.model_validate(row.rules)

    async def rules_versions(self) -> list[KurRulesVersion]:
        stmt = select(KurRulesVersion).order_by(
            KurRulesVersion.effective_from, KurRulesVersion.published_at
        )
        return list(await self.session.scalars(stmt))

    async def publish_rules(self, rules: KurRules) -> KurRulesVersion:
        if await self.session.get(KurRulesVersion, rules.version) is not None:
            raise Conflict(
                detail=f"KUR rules version {rules.version} exists; versions are immutable",
                extra={"field": "body.version"},
            )
        row = KurRulesVersion(
            version=rules.version,
            effective_from=rules.effective_from,
            rules=rules.model_dump(mode="json"),
            published_by=self.caller.actor.client_id,
            published_at=_now(),
        )
        self.session.add(row)
        await self.session.flush()
        return row

    # ==========================================================================================
    # Programmes and limits (banks)
    # ==========================================================================================

    async def create_programme(self, body: ProgrammeCreate) -> Programme:
        bank_id = self.caller.bank_id
        assert bank_id is not None
        anchor = await self.session.get(Anchor, body.anchor_id)
        if anchor is None:
            raise invalid("body.anchor_id", "unknown anchor (not onboarded in the supply chain)")
        if anchor.status != "active":
            raise invalid("body.anchor_id", f"the anchor is {anchor.status}")
        programme = Programme(
            id=new_id(),
            bank_id=bank_id,
            anchor_id=body.anchor_id,
            name=body.name,
            products=[p.model_dump(mode="json", exclude_none=True) for p in body.products],
            supplier_sublimit_idr=body.supplier_sublimit_idr,
            status="active",
            created_at=_now(),
        )
        self.session.add(programme)
        self.session.add(
            LimitLayer(
                id=new_id(),
                kind="programme",
                bank_id=bank_id,
                anchor_id=body.anchor_id,
                programme_id=programme.id,
                limit_idr=body.programme_limit_idr,
                reserved_idr=0,
                used_idr=0,
            )
        )
        await self.session.flush()
        cap = await limits.anchor_cap_layer(
            self.session,
            bank_id,
            body.anchor_id,
            body.anchor_exposure_cap_idr or body.programme_limit_idr,
        )
        if body.anchor_exposure_cap_idr is not None:
            await self._set_layer(cap, body.anchor_exposure_cap_idr)
        return programme

    async def _set_layer(self, layer_id: uuid.UUID, limit_idr: int) -> None:
        if not await limits.set_limit(self.session, layer_id, limit_idr):
            raise Conflict(
                detail="the new limit is below what is already reserved and used",
                extra={"field": "body.limit_idr"},
            )

    async def bank_programmes(self) -> list[Programme]:
        stmt = (
            select(Programme).where(Programme.bank_id == self.caller.bank_id).order_by(Programme.id)
        )
        return list(await self.session.scalars(stmt))

    async def anchor_programmes(self) -> list[Programme]:
        anchor = _uuid(self.caller.actor.actor_id)
        stmt = select(Programme).where(Programme.anchor_id == anchor).order_by(Programme.id)
        return list(await self.session.scalars(stmt))

    async def bank_programme(self, programme_id: uuid.UUID) -> Programme:
        programme = await self.session.get(Programme, programme_id)
        if programme is None or programme.bank_id != self.caller.bank_id:
            raise _not_found("programme", programme_id)
        return programme

    async def programme_layers(self, programme: Programme) -> list[LimitLayer]:
        stmt = (
            select(LimitLayer)
            .where(
                or_(
                    LimitLayer.programme_id == programme.id,
                    and_(
                        LimitLayer.kind == "anchor_cap",
                        LimitLayer.bank_id == programme.bank_id,
                        LimitLayer.anchor_id == programme.anchor_id,
                    ),
                )
            )
            .order_by(LimitLayer.kind, LimitLayer.id)
        )
        return list(await self.session.scalars(stmt))

    async def set_supplier_limit(
        self, programme_id: uuid.UUID, umkm_id: uuid.UUID, limit_idr: int
    ) -> None:
        programme = await self.bank_programme(programme_id)
        layer = await limits.supplier_layer(self.session, programme, umkm_id, limit_idr)
        await self._set_layer(layer, limit_idr)

    async def set_exposure_cap(self, anchor_id: uuid.UUID, limit_idr: int) -> None:
        bank_id = self.caller.bank_id
        assert bank_id is not None
        if await self.session.get(Anchor, anchor_id) is None:
            raise _not_found("anchor", anchor_id)
        layer = await limits.anchor_cap_layer(self.session, bank_id, anchor_id, limit_idr)
        await self._set_layer(layer, limit_idr)

    # ==========================================================================================
    # Applications
    # ==========================================================================================

    async def _order_by_invoice(self, invoice_id: uuid.UUID) -> PurchaseOrder | None:
        return await self.session.scalar(
            select(PurchaseOrder).where(PurchaseOrder.invoice_id == invoice_id)
        )

    async def open_application(self, body: ApplicationCreate) -> Application:
        c = self.caller
        errors: list[FieldError] = []
        order: PurchaseOrder | None = None
        if body.po_id is not None:
            order = await self.session.get(PurchaseOrder, body.po_id)
            if order is None:
                errors.append(FieldError("body.po_id", "unknown purchase order", str(body.po_id)))
        elif body.invoice_id is not None:
            order = await self._order_by_invoice(body.invoice_id)
            if order is None:
                errors.append(FieldError("body.invoice_id", "unknown invoice"))
        if body.product in domain.SCF_PRODUCTS and body.po_id is None and body.invoice_id is None:
            errors.append(FieldError("body.po_id", f"{body.product} needs po_id or invoice_id"))
        umkm_id = body.umkm_id or (order.umkm_id if order else None)
        anchor_id = body.anchor_id or (order.anchor_id if order else None)
        if anchor_id is None and c.kind == "anchor":
            anchor_id = _uuid(c.actor.actor_id)  # an anchor applies under its own programmes
        if order is not None:
            if body.umkm_id and body.umkm_id != order.umkm_id:
                errors.append(FieldError("body.umkm_id", "differs from the purchase order's"))
            if body.anchor_id and body.anchor_id != order.anchor_id:
                errors.append(FieldError("body.anchor_id", "differs from the purchase order's"))
        if umkm_id is None:
            errors.append(FieldError("body.umkm_id", "Field required (or give po_id)"))
        if anchor_id is None:
            errors.append(FieldError("body.anchor_id", "Field required (or give po_id)"))
        if c.kind == "anchor" and anchor_id is not None and str(anchor_id) != c.actor.actor_id:
            errors.append(FieldError("body.anchor_id", "an anchor opens applications for itself"))
        amount = body.amount_requested_idr
        if amount is None and order is not None:
            amount = domain.underlying_amount(
                body.product,
                domain.OrderFacts(
                    order.status,
                    order.amount_idr or 0,
                    order.goods_received,
                    order.invoice_amount_idr,
                    order.paid_at is not None,
                ),
            ) or (order.amount_idr or 0)
        if not amount:
            errors.append(FieldError("body.amount_requested_idr", "Field required"))
        tenor = body.tenor_days
        if tenor is None and order is not None:
            if order.invoice_due_on is not None:
                tenor = max(1, (order.invoice_due_on - today_wib()).days)
            elif order.payment_terms_days:
                tenor = order.payment_terms_days + 30
        if tenor is None:
            errors.append(FieldError("body.tenor_days", "Field required"))
        if body.owner_nik and self.ctx.vault is None:
            errors.append(FieldError("body.owner_nik", "this service cannot store NIKs"))
        if errors:
            raise ValidationFailed(
                detail="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors
            )
        assert umkm_id and anchor_id and amount and tenor
        now = _now()
        app = Application(
            id=new_id(),
            umkm_id=umkm_id,
            anchor_id=anchor_id,
            product=body.product,
            amount_requested_idr=amount,
            tenor_days=tenor,
            purpose=body.purpose,
            po_id=order.po_id if order else None,
            invoice_id=order.invoice_id if order else body.invoice_id,
            status="draft",
            opened_by_kind=c.kind,
            opened_by_id=c.org_id,
            opened_by_client=c.actor.client_id,
            prior_kur_count_declared=body.prior_kur_count,
            bpjs_ketenagakerjaan=body.bpjs_ketenagakerjaan,
            owner_nik_encrypted=(
                self.ctx.vault.encrypt(body.owner_nik)
                if body.owner_nik and self.ctx.vault
                else None
            ),
            nik_consent_reference=body.nik_consent_reference if body.owner_nik else None,
            nik_consent_at=now if body.owner_nik else None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        self.session.add(app)
        self.session.add(
            ApplicationHistory(
                application_id=app.id,
                action="open",
                from_status=None,
                to_status="draft",
                actor_kind=c.kind,
                actor_id=c.org_id,
                client_id=c.actor.client_id,
                detail={"prefilled_from_po": order is not None},
            )
        )
        await self.session.flush()
        if body.submit:
            await self._submit(app)
        return app

    async def submit(self, app_id: uuid.UUID) -> Application:
        app = await self.application(app_id, for_update=True)
        if not self._is_applicant_side(app):
            raise _not_found("application", app_id)
        await self._submit(app)
        return app

    async def _submit(self, app: Application) -> None:
        await self._step(app, "submit")
        await self._emit(
            ApplicationSubmitted(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                umkm_id=app.umkm_id,
                anchor_id=app.anchor_id,
                product=app.product,
                amount_requested_idr=app.amount_requested_idr,
                tenor_days=app.tenor_days,
                po_id=app.po_id,
                invoice_id=app.invoice_id,
                opened_by_kind=app.opened_by_kind,
                opened_by_id=app.opened_by_id,
            )
        )
        if self.caller.kind == "anchor":  # the anchor opened it: its confirmation is implied
            await self._confirm(app, ConfirmIn())
        else:
            await self.ctx.notify(
                self.session,
                "anchor",
                app.anchor_id,
                "application.confirmation_requested",
                {
                    "application_id": str(app.id),
                    "umkm_id": str(app.umkm_id),
                    "po_id": str(app.po_id) if app.po_id else None,
                    "invoice_id": str(app.invoice_id) if app.invoice_id else None,
                    "product": app.product,
                    "amount_requested_idr": app.amount_requested_idr,
                    "confirm_url": f"/v1/applications/{app.id}/confirm",
                },
                str(app.id),
            )

    async def confirm(self, app_id: uuid.UUID, body: ConfirmIn) -> Application:
        app = await self.application(app_id, for_update=True)
        self._require_anchor_of(app)
        await self._confirm(app, body)
        return app

    async def decline_confirmation(self, app_id: uuid.UUID, reason: str | None) -> Application:
        app = await self.application(app_id, for_update=True)
        self._require_anchor_of(app)
        await self._step(app, "decline_confirmation", {"reason": reason})
        await self._emit(
            ApplicationConfirmationDeclined(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                anchor_id=app.anchor_id,
                reason=reason,
            )
        )
        return app

    async def _facts(self, app: Application) -> domain.EligibilityFacts:
        row = await self.session.get(UmkmFacts, app.umkm_id)
        kur_loans = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(Loan.status == "active"),
                ).where(Loan.umkm_id == app.umkm_id, Loan.product.in_(domain.KUR_PRODUCTS))
            )
        ).one()
        if row is None:
            return domain.EligibilityFacts(known=False)
        return domain.EligibilityFacts(
            known=True,
            status=row.status,
            founded_on=row.founded_on,
            npwp=row.npwp,
            kbli_code=row.kbli_code,
            prior_kur_count=max(app.prior_kur_count_declared, int(kur_loans[0])),
            active_kur_loans=int(kur_loans[1]),
            bpjs_ketenagakerjaan=app.bpjs_ketenagakerjaan,
        )

    async def _order_facts(self, po_id: uuid.UUID | None) -> domain.OrderFacts | None:
        if po_id is None:
            return None
        o = await self.session.get(PurchaseOrder, po_id)
        if o is None:
            return None
        return domain.OrderFacts(
            o.status,
            o.amount_idr or 0,
            o.goods_received,
            o.invoice_amount_idr,
            o.paid_at is not None,
        )

    async def _confirm(self, app: Application, body: ConfirmIn) -> None:
        domain.next_status(app.status, "confirm")  # 409 before any work when not allowed
        if not body.payment_undertaking:
            raise invalid(
                "body.payment_undertaking",
                "closed-loop financing needs the anchor's payment undertaking",
            )
        if body.confirmed_amount_idr is not None:
            app.confirmed_amount_idr = body.confirmed_amount_idr
            app.amount_requested_idr = min(app.amount_requested_idr, body.confirmed_amount_idr)
        facts = await self._facts(app)
        reasons = domain.check_umkm(facts)
        rules_version: str | None = None
        if app.product in domain.KUR_PRODUCTS:
            rules = await self.current_rules()
            rules_version = rules.version
            reasons += domain.check_kur(
                rules, app.product, app.amount_requested_idr, facts, today_wib()
            )
        else:
            order = await self._order_facts(app.po_id)
            reasons += domain.check_scf(app.product, app.amount_requested_idr, order)
        anchor = await self.session.get(Anchor, app.anchor_id)
        if anchor is None or anchor.status != "active":
            reasons.append("the anchor is not an active anchor of the supply chain")
        routes: list[tuple[uuid.UUID, uuid.UUID, int]] = []
        skipped: list[dict[str, Any]] = []
        if not reasons:
            programmes = (
                await self.session.scalars(
                    select(Programme)
                    .join(Bank, Bank.id == Programme.bank_id)
                    .where(
                        Programme.anchor_id == app.anchor_id,
                        Programme.status == "active",
                        Bank.status == "active",
                        Programme.products.contains([{"product": app.product}]),
                    )
                    .order_by(Programme.id)
                )
            ).all()
            best: dict[uuid.UUID, tuple[uuid.UUID, int]] = {}
            for p in programmes:
                room = await limits.headroom(self.session, p, app.umkm_id)
                if room >= app.amount_requested_idr:
                    if p.bank_id not in best or room > best[p.bank_id][1]:
                        best[p.bank_id] = (p.id, room)
                else:
                    skipped.append({"bank_id": str(p.bank_id), "headroom_idr": room})
            routes = [(bank, pid, room) for bank, (pid, room) in sorted(best.items())]
            if not routes:
                reasons.append(
                    f"no partner bank has a programme on this anchor for {app.product} with "
                    f"Rp {app.amount_requested_idr:,} of headroom"
                )
        app.rules_version = rules_version
        app.prescreen = {
            "passed": not reasons,
            "reasons": reasons,
            "rules_version": rules_version,
            "facts": {
                "umkm_known": facts.known,
                "business_age_months": (
                    domain.months_between(facts.founded_on, today_wib())
                    if facts.founded_on
                    else None
                ),
                "npwp": bool(facts.npwp),
                "bpjs_ketenagakerjaan": bool(facts.bpjs_ketenagakerjaan),
                "prior_kur_count": facts.prior_kur_count,
                "active_kur_loans": facts.active_kur_loans,
            },
            "banks": [str(b) for b, _, _ in routes],
            "skipped_for_headroom": skipped,
            "checked_at": _now().isoformat(),
        }
        confirmed = {
            "application_id": app.id,
            "occurred_at": _now(),
            "anchor_id": app.anchor_id,
            "confirmed_amount_idr": app.confirmed_amount_idr,
        }
        if reasons:
            await self._step(app, "prescreen_fail", {"reasons": reasons})
            await self._emit(ApplicationConfirmed(status=app.status, **confirmed))
            await self._emit(
                ApplicationPrescreenFailed(
                    application_id=app.id,
                    status=app.status,
                    occurred_at=_now(),
                    reasons=reasons,
                    rules_version=rules_version,
                )
            )
            return
        for bank_id, programme_id, _ in routes:
            self.session.add(
                ApplicationRoute(
                    application_id=app.id,
                    bank_id=bank_id,
                    programme_id=programme_id,
                    routed_at=_now(),
                )
            )
        await self.session.flush()
        await self._step(app, "confirm", {"banks": [str(b) for b, _, _ in routes]})
        await self._emit(ApplicationConfirmed(status=app.status, **confirmed))
        await self._emit(
            ApplicationRouted(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                bank_ids=[b for b, _, _ in routes],
                rules_version=rules_version,
            )
        )

    async def list_applications(
        self, status: str | None, after: uuid.UUID | None, limit: int
    ) -> list[Application]:
        stmt: Select[Any] = select(Application).where(self._visible_filter())
        if status:
            stmt = stmt.where(Application.status == status)
        if after:
            stmt = stmt.where(Application.id > after)
        return list(await self.session.scalars(stmt.order_by(Application.id).limit(limit)))

    async def bank_queue(
        self, status: str | None, after: uuid.UUID | None, limit: int
    ) -> list[Application]:
        stmt: Select[Any] = (
            select(Application)
            .join(ApplicationRoute, ApplicationRoute.application_id == Application.id)
            .where(ApplicationRoute.bank_id == self.caller.bank_id)
        )
        if status:
            stmt = stmt.where(Application.status == status)
        if after:
            stmt = stmt.where(Application.id > after)
        return list(await self.session.scalars(stmt.order_by(Application.id).limit(limit)))

    async def history(self, app: Application) -> list[ApplicationHistory]:
        stmt = (
            select(ApplicationHistory)
            .where(ApplicationHistory.application_id == app.id)
            .order_by(ApplicationHistory.seq)
        )
        return list(await self.session.scalars(stmt))

    async def umkm_view(self, app: Application) -> tuple[UmkmFacts | None, str | None]:
        """The UMKM facts a routed bank needs; the full NIK only with the owner's consent
        (every such read is logged)."""
        facts = await self.session.get(UmkmFacts, app.umkm_id)
        nik = None
        if app.owner_nik_encrypted and app.nik_consent_reference and self.ctx.vault:
            nik = self.ctx.vault.decrypt(app.owner_nik_encrypted)
            self.session.add(
                PiiAccessLog(
                    id=new_id(),
                    application_id=app.id,
                    client_id=self.caller.actor.client_id,
                    actor_kind=self.caller.kind,
                    actor_id=self.caller.org_id,
                )
            )
        return facts, nik

    async def withdraw(self, app: Application, reason: str | None) -> Application:
        domain.next_status(app.status, "withdraw")
        await self._lapse_offers(app, keep=None, reason="withdrawn", include_accepted=True)
        await self._step(app, "withdraw", {"reason": reason})
        await self._emit(
            ApplicationWithdrawn(
                application_id=app.id, status=app.status, occurred_at=_now(), reason=reason
            )
        )
        return app

    async def withdraw_by_applicant(self, app_id: uuid.UUID, reason: str | None) -> Application:
        app = await self.application(app_id, for_update=True)
        if not self._is_applicant_side(app):
            raise Conflict(detail="only the applicant's side (opener or anchor) can withdraw")
        return await self.withdraw(app, reason)

    async def provide_info(self, app_id: uuid.UUID, response: str) -> Application:
        app = await self.application(app_id, for_update=True)
        if not self._is_applicant_side(app):
            raise Conflict(detail="only the applicant's side (opener or anchor) can answer")
        await self._step(app, "provide_info", {"response": response})
        app.info_response = response
        await self._emit(
            ApplicationInfoProvided(application_id=app.id, status=app.status, occurred_at=_now())
        )
        return app

    # ==========================================================================================
    # Offers
    # ==========================================================================================

    async def _programme(self, programme_id: uuid.UUID) -> Programme:
        programme = await self.session.get(Programme, programme_id)
        assert programme is not None
        return programme

    async def make_offer(self, app_id: uuid.UUID, body: OfferCreate) -> Offer:
        app, route = await self.bank_application(app_id, for_update=True)
        if route is None:
            raise Conflict(detail="the application is not routed to this bank")
        domain.next_status(app.status, "make_offer")
        bank_id = route.bank_id
        if await self.session.scalar(
            select(Offer.id).where(Offer.application_id == app.id, Offer.bank_id == bank_id)
        ):
            raise Conflict(detail="this bank has already made its offer on the application")
        programme = await self._programme(route.programme_id)
        if programme.status != "active":
            raise Conflict(detail="the programme is suspended")
        errors: list[tuple[str, str]] = []
        if body.amount_idr > app.amount_requested_idr:
            errors.append(("body.amount_idr", "exceeds the amount requested"))
        terms = next((t for t in programme.products if t["product"] == app.product), {})
        tenors = terms.get("tenors_days")
        if tenors and body.tenor_days not in tenors:
            errors.append(("body.tenor_days", f"the programme offers {tenors} days"))
        if app.product in domain.KUR_PRODUCTS:
            rules = await self.current_rules()
            facts = await self._facts(app)
            errors += domain.check_kur_offer(
                rules,
                app.product,
                body.amount_idr,
                body.rate_pa,
                facts.prior_kur_count,
                body.collateral_required,
            )
        else:
            order = await self._order_facts(app.po_id)
            base = domain.underlying_amount(app.product, order) if order else 0
            if app.confirmed_amount_idr:
                base = min(base, app.confirmed_amount_idr) if base else app.confirmed_amount_idr
            max_pct = Decimal(str(terms["max_advance_pct"])) if "max_advance_pct" in terms else None
            pct = body.advance_pct or max_pct or Decimal(100)
            if max_pct is not None and pct > max_pct:
                errors.append(("body.advance_pct", f"the programme advances at most {max_pct} %"))
            if base and body.amount_idr > int(base * pct / 100):
                errors.append(
                    ("body.amount_idr", f"more than {pct} % of the underlying Rp {base:,}")
                )
        if errors:
            raise ValidationFailed(
                detail="; ".join(f"{f}: {m}" for f, m in errors),
                errors=[FieldError(f, m) for f, m in errors],
            )
        offer = Offer(
            id=new_id(),
            application_id=app.id,
            bank_id=bank_id,
            programme_id=programme.id,
            amount_idr=body.amount_idr,
            rate_pa=body.rate_pa,
            tenor_days=body.tenor_days,
            advance_pct=body.advance_pct,
            fees_idr=body.fees_idr,
            collateral_required=body.collateral_required,
            conditions=body.conditions,
            valid_until=body.valid_until,
            status="open",
            reserved_idr=body.amount_idr,
            created_at=_now(),
        )
        self.session.add(offer)
        await self.session.flush()
        await limits.reserve(
            self.session,
            programme,
            app.umkm_id,
            body.amount_idr,
            application_id=app.id,
            offer_id=offer.id,
        )
        await self._step(
            app, "make_offer", {"offer_id": str(offer.id), "amount_idr": body.amount_idr}
        )
        now = _now()
        await self._emit(
            OfferMade(
                application_id=app.id,
                status=app.status,
                occurred_at=now,
                offer_id=offer.id,
                bank_id=bank_id,
                amount_idr=offer.amount_idr,
                rate_pa=offer.rate_pa,
                tenor_days=offer.tenor_days,
                advance_pct=offer.advance_pct,
                fees_idr=offer.fees_idr,
                valid_until=offer.valid_until,
            )
        )
        await self._emit(
            LimitReserved(
                application_id=app.id,
                status=app.status,
                occurred_at=now,
                programme_id=programme.id,
                bank_id=bank_id,
                amount_idr=offer.amount_idr,
            )
        )
        return offer

    async def offers(self, app: Application) -> list[tuple[Offer, str | None]]:
        stmt = (
            select(Offer, Bank.name)
            .join(Bank, Bank.id == Offer.bank_id)
            .where(Offer.application_id == app.id)
        )
        if self.caller.bank_id is not None:
            stmt = stmt.where(Offer.bank_id == self.caller.bank_id)
        return [(o, n) for o, n in (await self.session.execute(stmt.order_by(Offer.id))).all()]

    async def _release_offer(self, app: Application, offer: Offer, reason: str) -> None:
        if offer.reserved_idr <= 0:
            return
        programme = await self._programme(offer.programme_id)
        amount = offer.reserved_idr
        await limits.shift(
            self.session,
            programme,
            app.umkm_id,
            release=amount,
            application_id=app.id,
            offer_id=offer.id,
            reason=reason,
        )
        offer.reserved_idr = 0
        await self._emit(
            LimitReleased(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                programme_id=programme.id,
                bank_id=offer.bank_id,
                amount_idr=amount,
                reason=reason,
            )
        )

    async def _lapse_offers(
        self, app: Application, keep: uuid.UUID | None, reason: str, include_accepted: bool
    ) -> None:
        statuses = ("open", "accepted") if include_accepted else ("open",)
        rows = await self.session.scalars(
            select(Offer)
            .where(Offer.application_id == app.id, Offer.status.in_(statuses))
            .order_by(Offer.id)
            .with_for_update()
        )
        offers = [o for o in rows.all() if o.id != keep]
        layer_ids: list[uuid.UUID] = []
        for offer in offers:
            if offer.reserved_idr > 0:
                programme = await self._programme(offer.programme_id)
                layer_ids += await limits.layers_of(self.session, programme, app.umkm_id)
        await limits.lock_layers(self.session, layer_ids)
        for offer in offers:
            await self._release_offer(app, offer, reason)
            offer.status = "lapsed"
            await self._emit(
                OfferLapsed(
                    application_id=app.id,
                    status=app.status,
                    occurred_at=_now(),
                    offer_id=offer.id,
                    bank_id=offer.bank_id,
                    reason=reason,
                )
            )
            await self.ctx.notify(
                self.session,
                "bank",
                offer.bank_id,
                "offer.lapsed",
                {"application_id": str(app.id), "offer_id": str(offer.id), "reason": reason},
                str(app.id),
            )

    async def accept_offer(self, app_id: uuid.UUID, offer_id: uuid.UUID) -> Application:
        app = await self.application(app_id, for_update=True)
        if not self._is_applicant_side(app):
            raise Conflict(detail="only the applicant's side (opener or anchor) can accept")
        offer = await self.session.get(Offer, offer_id, with_for_update=True)
        if offer is None or offer.application_id != app.id:
            raise _not_found("offer", offer_id)
        domain.next_status(app.status, "accept_offer")
        if offer.status != "open":
            raise Conflict(detail=f"the offer is {offer.status}", extra={"allowed": []})
        if offer.valid_until is not None and offer.valid_until < _now():
            raise Conflict(detail="the offer has expired")
        offer.status = "accepted"
        app.accepted_offer_id = offer.id
        app.bank_id = offer.bank_id
        await self._step(app, "accept_offer", {"offer_id": str(offer.id)})
        await self._emit(
            OfferAccepted(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                offer_id=offer.id,
                bank_id=offer.bank_id,
                amount_idr=offer.amount_idr,
            )
        )
        await self._lapse_offers(
            app, keep=offer.id, reason="another offer was accepted", include_accepted=False
        )
        return app

    # ==========================================================================================
    # The bank's review, agreement, disbursement
    # ==========================================================================================

    async def _accepted(self, app_id: uuid.UUID) -> tuple[Application, Offer]:
        app, _ = await self.bank_application(app_id, for_update=True)
        if app.bank_id != self.caller.bank_id or app.accepted_offer_id is None:
            allowed = domain.allowed_actions(app.status)
            raise Conflict(
                detail=f"the application is {app.status} and no offer of this bank is accepted",
                extra={"status": app.status, "allowed": allowed},
            )
        offer = await self.session.get(Offer, app.accepted_offer_id, with_for_update=True)
        assert offer is not None
        return app, offer

    async def decide(self, app_id: uuid.UUID, body: DecisionIn) -> Application:
        app, offer = await self._accepted(app_id)
        bank_id = offer.bank_id
        now = _now()
        if body.decision == "approve":
            domain.next_status(app.status, "approve")
            amount = body.approved_amount_idr or offer.reserved_idr
            if amount > offer.reserved_idr:
                raise invalid("body.approved_amount_idr", "exceeds the accepted offer")
            if amount < offer.reserved_idr:
                programme = await self._programme(offer.programme_id)
                await limits.shift(
                    self.session,
                    programme,
                    app.umkm_id,
                    release=offer.reserved_idr - amount,
                    application_id=app.id,
                    offer_id=offer.id,
                    reason="approved for less",
                )
                offer.reserved_idr = amount
            app.decision_note = body.note
            await self._step(app, "approve", {"approved_amount_idr": amount, "note": body.note})
            await self._emit(
                ApplicationApproved(
                    application_id=app.id,
                    status=app.status,
                    occurred_at=now,
                    bank_id=bank_id,
                    approved_amount_idr=amount,
                )
            )
        elif body.decision == "reject":
            domain.next_status(app.status, "reject")
            await self._release_offer(app, offer, "rejected")
            offer.status = "lapsed"
            app.decision_note = body.note
            await self._step(app, "reject", {"note": body.note})
            await self._emit(
                ApplicationRejected(
                    application_id=app.id,
                    status=app.status,
                    occurred_at=now,
                    bank_id=bank_id,
                    reason=body.note,
                )
            )
        else:
            app.referral_note = body.note
            await self._step(app, "refer", {"note": body.note})
            await self._emit(
                ApplicationReferred(
                    application_id=app.id,
                    status=app.status,
                    occurred_at=now,
                    bank_id=bank_id,
                    requested_information=body.note or "",
                )
            )
        return app

    async def sign_agreement(self, app_id: uuid.UUID, body: AgreementIn) -> Application:
        app, offer = await self._accepted(app_id)
        app.agreement_reference = body.agreement_reference
        await self._step(app, "sign_agreement", {"agreement_reference": body.agreement_reference})
        await self._emit(
            AgreementSigned(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                bank_id=offer.bank_id,
                agreement_reference=body.agreement_reference,
                signed_on=body.signed_on,
            )
        )
        return app

    async def disburse(self, app_id: uuid.UUID, body: DisbursementIn) -> Loan:
        app, offer = await self._accepted(app_id)
        domain.next_status(app.status, "disburse")
        if body.amount_idr > offer.reserved_idr:
            raise invalid(
                "body.amount_idr",
                f"exceeds the approved Rp {offer.reserved_idr:,}",
                body.amount_idr,
            )
        if offer.fees_idr >= body.amount_idr:
            raise invalid("body.amount_idr", "must exceed the offer's fees")
        programme = await self._programme(offer.programme_id)
        await limits.shift(
            self.session,
            programme,
            app.umkm_id,
            release=offer.reserved_idr,
            use=body.amount_idr,
            application_id=app.id,
            offer_id=offer.id,
            reason="disbursed",
        )
        plan = domain.schedule(app.product, body.amount_idr, body.disbursed_on, offer.tenor_days)
        loan = Loan(
            id=new_id(),
            application_id=app.id,
            offer_id=offer.id,
            bank_id=offer.bank_id,
            anchor_id=app.anchor_id,
            umkm_id=app.umkm_id,
            programme_id=programme.id,
            product=app.product,
            po_id=app.po_id,
            principal_idr=body.amount_idr,
            fees_idr=offer.fees_idr,
            rate_pa=offer.rate_pa,
            disbursed_on=body.disbursed_on,
            maturity_on=plan[-1][0],
            schedule=[{"due_on": d.isoformat(), "principal_idr": a} for d, a in plan],
            disbursement_reference=body.reference,
            principal_paid_idr=0,
            interest_paid_idr=0,
            interest_unpaid_idr=0,
            interest_accrued_to=body.disbursed_on,
            remainder_paid_out_idr=0,
            status="active",
            kol=1,
            days_past_due=0,
            created_at=_now(),
        )
        offer.reserved_idr = 0
        self.session.add(loan)
        await self.session.flush()
        await self._step(app, "disburse", {"loan_id": str(loan.id), "amount_idr": body.amount_idr})
        await self._emit(
            LoanDisbursed(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                loan_id=loan.id,
                bank_id=loan.bank_id,
                anchor_id=loan.anchor_id,
                umkm_id=loan.umkm_id,
                product=loan.product,
                principal_idr=loan.principal_idr,
                fees_idr=loan.fees_idr,
                rate_pa=loan.rate_pa,
                disbursed_on=loan.disbursed_on,
                maturity_on=loan.maturity_on,
            )
        )
        return loan

    # ==========================================================================================
    # Loans: repayment (closed loop), closure, ageing
    # ==========================================================================================

    async def bank_loan(self, loan_id: uuid.UUID, *, for_update: bool = False) -> Loan:
        loan = await self.session.get(Loan, loan_id, with_for_update=for_update)
        if loan is None or loan.bank_id != self.caller.bank_id:
            raise _not_found("loan", loan_id)
        return loan

    async def loan_of(self, app: Application) -> Loan | None:
        return await self.session.scalar(select(Loan).where(Loan.application_id == app.id))

    async def repayments(self, loan: Loan) -> list[Repayment]:
        stmt = select(Repayment).where(Repayment.loan_id == loan.id).order_by(Repayment.created_at)
        return list(await self.session.scalars(stmt))

    async def bank_loans(self, after: uuid.UUID | None, limit: int) -> list[Loan]:
        stmt = select(Loan).where(Loan.bank_id == self.caller.bank_id)
        if after:
            stmt = stmt.where(Loan.id > after)
        return list(await self.session.scalars(stmt.order_by(Loan.id).limit(limit)))

    async def report_repayment(self, loan_id: uuid.UUID, body: RepaymentIn) -> Repayment:
        loan = await self.bank_loan(loan_id, for_update=True)
        return await self.apply_payment(
            loan, body.amount_idr, body.paid_on, "bank_report", f"bank:{body.reference}"
        )

    async def apply_payment(
        self, loan: Loan, amount: int, paid_on: date, source: str, reference: str
    ) -> Repayment:
        """Interest first, then principal; the remainder goes to the UMKM. Applying the same
        reference again returns the first repayment (a repeated event or retried call)."""
        existing = await self.session.scalar(
            select(Repayment).where(Repayment.loan_id == loan.id, Repayment.reference == reference)
        )
        if existing is not None:
            return existing
        app = await self.session.get(Application, loan.application_id, with_for_update=True)
        assert app is not None
        if loan.status != "active":
            raise Conflict(
                detail=f"the loan is closed ({loan.closure_reason})",
                extra={"status": app.status, "allowed": domain.allowed_actions(app.status)},
            )
        days = max(0, (paid_on - loan.interest_accrued_to).days)
        interest_due = loan.interest_unpaid_idr + domain.interest_idr(
            loan.outstanding_idr, loan.rate_pa, days
        )
        split = domain.allocate(amount, interest_due, loan.outstanding_idr)
        assert split.total == amount
        loan.interest_unpaid_idr = interest_due - split.interest_idr
        loan.interest_accrued_to = max(paid_on, loan.interest_accrued_to)
        loan.interest_paid_idr += split.interest_idr
        loan.principal_paid_idr += split.principal_idr
        loan.remainder_paid_out_idr += split.remainder_idr
        repayment = Repayment(
            id=new_id(),
            loan_id=loan.id,
            application_id=app.id,
            source=source,
            reference=reference,
            amount_idr=amount,
            interest_idr=split.interest_idr,
            principal_idr=split.principal_idr,
            remainder_idr=split.remainder_idr,
            outstanding_after_idr=loan.outstanding_idr,
            paid_on=paid_on,
            created_at=_now(),
        )
        self.session.add(repayment)
        programme = await self._programme(loan.programme_id)
        if split.principal_idr:
            await limits.shift(
                self.session,
                programme,
                loan.umkm_id,
                recover=split.principal_idr,
                application_id=app.id,
                reason="repaid",
            )
        await self._step(
            app,
            "repay",
            {
                "repayment_id": str(repayment.id),
                "amount_idr": amount,
                "interest_idr": split.interest_idr,
                "principal_idr": split.principal_idr,
                "remainder_idr": split.remainder_idr,
            },
        )
        now = _now()
        await self._emit(
            RepaymentApplied(
                application_id=app.id,
                status=app.status,
                occurred_at=now,
                loan_id=loan.id,
                repayment_id=repayment.id,
                source=source,
                amount_idr=amount,
                interest_idr=split.interest_idr,
                principal_idr=split.principal_idr,
                remainder_to_umkm_idr=split.remainder_idr,
                outstanding_principal_idr=loan.outstanding_idr,
                paid_on=paid_on,
            )
        )
        if split.principal_idr:
            await self._emit(
                LimitReleased(
                    application_id=app.id,
                    status=app.status,
                    occurred_at=now,
                    programme_id=programme.id,
                    bank_id=loan.bank_id,
                    amount_idr=split.principal_idr,
                    reason="repaid",
                )
            )
        if loan.outstanding_idr == 0:
            await self._close(app, loan, "paid")
        return repayment

    async def _close(self, app: Application, loan: Loan, reason: str) -> None:
        outstanding = loan.outstanding_idr
        if outstanding:
            programme = await self._programme(loan.programme_id)
            await limits.shift(
                self.session,
                programme,
                loan.umkm_id,
                recover=outstanding,
                application_id=app.id,
                reason=reason,
            )
        loan.status = "closed"
        loan.closure_reason = reason
        loan.closed_at = _now()
        await self._step(app, "close", {"reason": reason, "outstanding_idr": outstanding})
        await self._emit(
            LoanClosed(
                application_id=app.id,
                status=app.status,
                occurred_at=_now(),
                loan_id=loan.id,
                reason=reason,
                outstanding_principal_idr=outstanding,
            )
        )

    async def close_loan(self, loan_id: uuid.UUID, body: CloseIn) -> Loan:
        loan = await self.bank_loan(loan_id, for_update=True)
        app = await self.session.get(Application, loan.application_id, with_for_update=True)
        assert app is not None
        domain.next_status(app.status, "close")
        await self._close(app, loan, body.reason)
        return loan

    async def age_loans(self, as_of: date) -> tuple[int, int]:
        """DPD and SLIK kol of every active loan as of a date; kol changes are published."""
        loans = (
            await self.session.scalars(
                select(Loan).where(Loan.status == "active").order_by(Loan.id).with_for_update()
            )
        ).all()
        changed = 0
        for loan in loans:
            plan = [
                (date.fromisoformat(r["due_on"]), int(r["principal_idr"])) for r in loan.schedule
            ]
            dpd = domain.days_past_due(plan, loan.principal_paid_idr, as_of)
            kol = domain.kol_for(dpd)
            previous = loan.kol
            loan.days_past_due = dpd
            loan.kol_as_of = as_of
            if kol != previous:
                changed += 1
                loan.kol = kol
                app = await self.session.get(Application, loan.application_id)
                assert app is not None
                await self._emit(
                    LoanKolChanged(
                        application_id=loan.application_id,
                        status=app.status,
                        occurred_at=_now(),
                        loan_id=loan.id,
                        previous_kol=previous,
                        kol=kol,
                        days_past_due=dpd,
                        as_of=as_of,
                    )
                )
                payload = {
                    "application_id": str(loan.application_id),
                    "loan_id": str(loan.id),
                    "previous_kol": previous,
                    "kol": kol,
                    "days_past_due": dpd,
                    "as_of": as_of.isoformat(),
                }
                await self.ctx.notify(
                    self.session,
                    "bank",
                    loan.bank_id,
                    "loan.kol_changed",
                    payload,
                    str(loan.application_id),
                )
                await self.ctx.notify(
                    self.session,
                    "anchor",
                    loan.anchor_id,
                    "loan.kol_changed",
                    payload,
                    str(loan.application_id),
                )
        return len(loans), changed

    # ==========================================================================================
    # Reports
    # ==========================================================================================

    async def portfolio(self, group_by: str) -> list[dict[str, Any]]:
        keys = {
            "bank": Loan.bank_id,
            "anchor": Loan.anchor_id,
            "cluster": UmkmCluster.cluster_id,
            "product": Loan.product,
        }
        key = keys[group_by]
        active = Loan.status == "active"
        outstanding = Loan.principal_idr - Loan.principal_paid_idr
        cols: list[Any] = [
            key.label("key"),
            func.count().label("loans"),
            func.count().filter(active).label("active_loans"),
            func.coalesce(func.sum(Loan.principal_idr), 0).label("volume"),
            func.coalesce(func.sum(outstanding).filter(active), 0).label("outstanding"),
        ]
        cols += [
            func.coalesce(func.sum(outstanding).filter(active, Loan.kol == k), 0).label(f"kol{k}")
            for k in range(1, 6)
        ]
        stmt = select(*cols).select_from(Loan)
        if group_by == "cluster":
            stmt = stmt.outerjoin(UmkmCluster, UmkmCluster.umkm_id == Loan.umkm_id)
        c = self.caller
        if c.bank_id is not None:
            stmt = stmt.where(Loan.bank_id == c.bank_id)
        elif c.kind == "anchor":
            stmt = stmt.where(Loan.anchor_id == _uuid(c.actor.actor_id))
        elif c.kind not in ("ministry", "service"):
            stmt = stmt.where(false())
        rows = (await self.session.execute(stmt.group_by(key).order_by(key))).all()
        return [dict(r._mapping) for r in rows]


def programme_products(programme: Programme) -> Sequence[dict[str, Any]]:
    return programme.products
