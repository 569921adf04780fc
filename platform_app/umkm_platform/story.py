"""The end-to-end story, told through the four services' public HTTP APIs (`make demo`).

    uv run python -m umkm_platform.story            # against `make up` (starts it if needed)

1. The ministry imports a national sample of UMKM (a synthetic file with Indonesian formatting,
   2 % invalid and 1 % duplicate rows); the Dinas of Jawa Barat registers electric-motorcycle
   component workshops (KBLI 30912) in Bekasi and Karawang and declares their monthly capacity.
2. The ministry runs cluster formation; the quality report is summarised.
3. An anchor (a state-owned electric-motorcycle maker) asks for more inverters than any single
   workshop makes; matching proposes a bundle; the anchor awards it: one purchase order each.
4. Two partner banks (OAuth2 clients with SNAP request signing) open programmes on the anchor; a
   supplier applies for PO financing through its Dinas, the anchor confirms, both banks bid, the
   cheaper offer is taken, approved, signed and disbursed.
5. Goods are received (BAST), invoiced and paid by the anchor; the payment repays the loan through
   the closed loop (interest, then principal, the remainder to the UMKM) and the limits recover.
Every amount is reconciled at the end (`Reconciliation`); the end-to-end test asserts it.

Services only talk through Kafka; this module only through HTTP, so every wait here is for an
event to travel (`eventually`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from umkm_shared.synthetic import generate, write_import_file

Say = Callable[[str], None]
TokenFactory = Callable[..., dict[str, str]]  # (kind, *, actor_id, wilayah, scopes) -> headers

REGISTRY_SCOPES = frozenset({"registry:read", "registry:write"})
EMOTOR_KBLI = "30912"  # industri komponen dan perlengkapan sepeda motor roda dua dan tiga
PLANT = (-6.3003, 107.1675)  # the anchor's assembly plant, Cikarang (Kab. Bekasi)
WORKSHOP_REGIONS = ("32.16", "32.16", "32.15", "32.15")  # Kab. Bekasi, Kab. Karawang
WORKSHOP_CAPACITY = 400  # inverters a month each: the anchor needs 1,000
UNIT_PRICE_IDR = 1_250_000


@dataclass
class Platform:
    """Where the services are and how to get tokens for the story's actors."""

    registry: str
    clustering: str
    supply_chain: str
    financing: str
    token: TokenFactory
    timeout_s: float = 120.0


@dataclass
class Bank:
    name: str
    id: str
    partner_id: str
    signing_secret: str
    access_token: str
    programme_id: str = ""


@dataclass
class Reconciliation:
    imported: dict[str, int] = field(default_factory=dict)
    formation: dict[str, Any] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    loan: dict[str, Any] = field(default_factory=dict)
    repayment: dict[str, Any] = field(default_factory=dict)
    invoice_amount_idr: int = 0
    limits_after: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.problems.append(what)


class StoryError(RuntimeError):
    pass


def _ok(resp: httpx.Response, *codes: int) -> Any:
    if resp.status_code not in (codes or (200, 201, 202)):
        raise StoryError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}"
        )
    return resp.json() if resp.content else None


def _idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def eventually(probe: Callable[[], Awaitable[Any]], limit_s: float, what: str) -> Any:
    """Poll until `probe` returns something truthy: events travel asynchronously."""
    deadline = time.monotonic() + limit_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StoryError(f"timed out after {limit_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


class BankClient:
    """A partner bank calling the financing API with its token and SNAP signatures."""

    def __init__(self, http: httpx.AsyncClient, bank: Bank) -> None:
        from umkm_financing.snap import signed_headers  # the bank's side of the signature

        self.http, self.bank, self._sign = http, bank, signed_headers

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = orjson.dumps(body) if body is not None else b""
        full_path = httpx.URL(str(self.http.base_url).rstrip("/") + path).path
        headers = self._sign(
            self.bank.signing_secret,
            self.bank.partner_id,
            method,
            full_path,
            self.bank.access_token,
            content,
        )
        if body is not None:
            headers["content-type"] = "application/json"
        if method != "GET":
            headers |= _idem()
        return await self.http.request(method, path, content=content, headers=headers)


async def run_story(
    platform: Platform,
    say: Say = print,
    *,
    national_sample: int = 2000,
    between_steps: Callable[[str], Awaitable[None]] | None = None,
) -> Reconciliation:
    """Tell the whole story; `between_steps(step)` lets a test disturb the platform."""
    rec = Reconciliation()
    pause = between_steps or (lambda _step: asyncio.sleep(0))
    limit = platform.timeout_s
    ministry = platform.token("ministry", scopes=REGISTRY_SCOPES | {"registry:pii"})
    dinas = platform.token("dinas", wilayah="32", scopes=REGISTRY_SCOPES)
    async with (
        httpx.AsyncClient(base_url=platform.registry, timeout=60) as registry,
        httpx.AsyncClient(base_url=platform.clustering, timeout=60) as clustering,
        httpx.AsyncClient(base_url=platform.supply_chain, timeout=60) as supply,
        httpx.AsyncClient(base_url=platform.financing, timeout=60) as financing,
    ):
        # What the consumers had applied before this story (a second run in the same stack).
        before = {
            "clustering": await events_applied(clustering, REGISTERED),
            "financing": await events_applied(financing, REGISTERED),
            "accepted": await events_applied(financing, ACCEPTED),
        }

        async def caught_up(service: httpx.AsyncClient, key: str, prefix: str, n: int) -> bool:
            return await events_applied(service, prefix) >= before[key] + n

        # 1. Registry: a national sample, then the workshops of this story.
        say(f"1. The ministry imports a national sample of {national_sample:,} UMKM rows.")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sampel_nasional.csv"
            manifest = write_import_file(path, national_sample, seed=2026, fmt="csv-semicolon")
            resp = await registry.post(
                "/v1/imports",
                files={"file": (path.name, path.read_bytes(), "text/csv")},
                headers=ministry | _idem(),
            )
        job = _ok(resp, 201, 202)

        async def import_done() -> dict[str, Any] | None:
            state = _ok(await registry.get(f"/v1/imports/{job['id']}", headers=ministry))
            if state["status"] == "failed":
                raise StoryError(f"import failed: {state['error']}")
            return state if state["status"] == "done" else None

        job = await eventually(import_done, limit, "the import job")
        rec.imported = dict(job["counts"])
        rec.check(
            "import stored every distinct business of the file",
            job["counts"]["inserted"] + job["counts"]["updated"] + job["counts"]["unchanged"]
            == manifest.distinct_businesses,
        )
        say(
            f"   done: {job['counts']['inserted']:,} stored, {job['counts']['rows_failed']:,} rows "
            f"refused (error report at /v1/imports/{job['id']}/errors.csv), "
            f"{job['counts']['rows_duplicate']:,} duplicates folded."
        )
        await pause("imported")

        say("   The Dinas of Jawa Barat registers four e-motor component workshops.")
        workshops: list[str] = []
        for i, region in enumerate(WORKSHOP_REGIONS):
            body = next(iter(generate(1, seed=500 + i, within=region))).registry_json()
            body |= {
                "business_name": f"CV KOMPONEN LISTRIK MANDIRI {i + 1}",
                "kbli": {"version": "2020", "code": EMOTOR_KBLI},
                "products": ["Inverter 3 kW", "Harness kabel"],
            }
            created = _ok(await registry.post("/v1/umkm", json=body, headers=dinas | _idem()), 201)
            workshops.append(created["id"])

        async def profiles_ready() -> bool:
            for umkm_id in workshops:
                if (
                    await supply.get(f"/v1/suppliers/{umkm_id}", headers=ministry)
                ).status_code != 200:
                    return False
            return True

        await eventually(profiles_ready, limit, "supplier profiles from registry events")
        for umkm_id in workshops:
            _ok(
                await supply.patch(
                    f"/v1/suppliers/{umkm_id}",
                    json={
                        "products": [
                            {
                                "kbli_code": EMOTOR_KBLI,
                                "name": "Inverter 3 kW sepeda motor listrik",
                                "keywords": ["inverter", "motor listrik"],
                                "monthly_capacity": str(WORKSHOP_CAPACITY),
                                "unit": "pcs",
                            }
                        ],
                        "lead_time_days": 14,
                    },
                    headers=dinas,
                )
            )
        say(f"   Each declares {WORKSHOP_CAPACITY} inverters a month (supplier profiles).")

        # 2. Clustering.
        expected = rec.imported["inserted"] + len(workshops)
        say("2. The ministry forms sector clusters over everything registered.")

        await eventually(
            lambda: caught_up(clustering, "clustering", REGISTERED, expected),
            limit,
            "the clustering read model",
        )
        run = _ok(
            await clustering.post(
                "/v1/formation-runs",
                json={"min_size": 40, "max_size": 80},
                headers=ministry | _idem(),
            ),
            202,
        )

        async def run_done() -> dict[str, Any] | None:
            state = _ok(await clustering.get(f"/v1/formation-runs/{run['id']}", headers=ministry))
            if state["status"] == "failed":
                raise StoryError(f"formation failed: {state.get('error')}")
            return state if state["status"] == "succeeded" else None

        await eventually(run_done, limit, "the formation run")
        report = _ok(
            await clustering.get(f"/v1/formation-runs/{run['id']}/report", headers=ministry)
        )
        rec.formation = report
        say(f"   {_report_line(report)}")
        await pause("clustered")

        # 3. The anchor's request, matching, a bundle, the award.
        say(
            "3. PT Motor Listrik Nusantara (Persero) joins as an anchor and asks for "
            "1,000 inverters."
        )
        anchor = _ok(
            await supply.post(
                "/v1/anchors",
                json={
                    "name": "PT MOTOR LISTRIK NUSANTARA (PERSERO)",
                    "nib": f"{uuid.uuid4().int % 10**13:013d}",
                    "sector": "otomotif",
                    "state_owned": True,
                    "province_code": "32",
                },
                headers=ministry | _idem(),
            ),
            201,
        )
        anchor_id = anchor["id"]
        anchor_h = platform.token("anchor", actor_id=anchor_id)
        request = _ok(
            await supply.post(
                "/v1/procurement-requests",
                json={
                    "title": "Inverter 3 kW untuk sepeda motor listrik",
                    "kbli_code": EMOTOR_KBLI,
                    "keywords": ["inverter"],
                    "quantity": "1000",
                    "unit": "pcs",
                    "delivery": {"latitude": PLANT[0], "longitude": PLANT[1]},
                    "deadline": str(date.today() + timedelta(days=60)),
                    "max_distance_km": 150,
                    "budget_idr": 1000 * UNIT_PRICE_IDR,
                    "open": True,
                },
                headers=anchor_h | _idem(),
            ),
            201,
        )
        match = _ok(
            await supply.post(f"/v1/procurement-requests/{request['id']}/matches", headers=anchor_h)
        )
        rec.check("no single workshop can supply it", not match["single_supplier_possible"])
        bundle = match["bundles"][0]
        say(
            f"   {match['feasible_count']} workshops qualify, none can supply 1,000 alone; "
            f"matching proposes a bundle of {bundle['member_count']} of them."
        )
        award = _ok(
            await supply.post(
                f"/v1/procurement-requests/{request['id']}/awards",
                json={
                    "match_id": match["id"],
                    "bundle_id": bundle["bundle_id"],
                    "unit_price_idr": UNIT_PRICE_IDR,
                    "payment_terms_days": 30,
                },
                headers=anchor_h | _idem(),
            ),
            201,
        )
        orders = award["orders"]
        rec.check(
            "the bundle covers the request",
            sum(float(o["quantity"]) for o in orders) == 1000,
        )
        for order in orders:
            _ok(await supply.post(f"/v1/purchase-orders/{order['id']}/accept", headers=dinas))
        say(
            f"   Awarded: {len(orders)} purchase orders, "
            + ", ".join(f"{o['po_number']} ({float(o['quantity']):,.0f} pcs)" for o in orders)
            + "; each accepted by its supplier."
        )
        await pause("ordered")

        # 4. Financing: two banks, a programme each, one application, two offers.
        say("4. Two partner banks open supplier-finance programmes on the anchor.")
        banks = [
            await _onboard_bank(financing, ministry, "Bank Nusantara Contoh", "BNC"),
            await _onboard_bank(financing, ministry, "Bank Rakyat Contoh", "BRC"),
        ]
        clients = [BankClient(financing, b) for b in banks]
        for client in clients:

            async def programme_opened(c: BankClient = client) -> bool:
                resp = await c.call(
                    "POST",
                    "/v1/bank/programmes",
                    {
                        "anchor_id": anchor_id,
                        "name": "Pembiayaan rantai pasok motor listrik",
                        "products": [
                            {"product": "po_financing", "max_advance_pct": "80"},
                            {"product": "invoice_financing", "max_advance_pct": "90"},
                        ],
                        "programme_limit_idr": 5_000_000_000,
                        "supplier_sublimit_idr": 1_000_000_000,
                    },
                )
                if resp.status_code == 201:
                    c.bank.programme_id = resp.json()["id"]
                    return True
                if resp.status_code in (404, 409, 422) and "anchor" in resp.text.lower():
                    return False  # the anchor's event has not arrived yet
                _ok(resp, 201)
                return False

            await eventually(programme_opened, limit, "the anchor at the financing broker")

        # The broker pre-screens with its own copies of the registry and of the orders (which
        # must be accepted by the supplier): wait until it has caught up with both.
        await eventually(
            lambda: caught_up(financing, "financing", REGISTERED, expected),
            limit,
            "the broker's registry facts",
        )
        await eventually(
            lambda: caught_up(financing, "accepted", ACCEPTED, len(orders)),
            limit,
            "the accepted orders at the broker",
        )
        po = max(orders, key=lambda o: o["amount_idr"])
        say(
            f"   The Dinas applies for PO financing for {po['po_number']} "
            f"(Rp {po['amount_idr']:,}) on behalf of its supplier."
        )

        async def applied() -> dict[str, Any] | None:
            resp = await financing.post(
                "/v1/applications",
                json={
                    "product": "po_financing",
                    "po_id": po["id"],
                    "purpose": "Bahan baku inverter",
                },
                headers=dinas | _idem(),
            )
            if resp.status_code == 201:
                return dict(resp.json())
            if resp.status_code in (404, 409, 422):
                return None  # the purchase order's event has not arrived yet
            return _ok(resp, 201)  # type: ignore[no-any-return]

        application = await eventually(applied, limit, "the purchase order at the broker")
        app_id = application["id"]
        confirmed = _ok(
            await financing.post(
                f"/v1/applications/{app_id}/confirm", json={}, headers=anchor_h | _idem()
            )
        )
        say(f"   The anchor confirms the order; the application is {confirmed['status']}.")
        if confirmed["status"] != "routed":
            raise StoryError(f"pre-screening refused: {confirmed.get('prescreen')}")
        offers_in = [("0.14", 2_000_000), ("0.11", 1_000_000)]
        amount = int(po["amount_idr"] * 0.8)
        for client, (rate, fees) in zip(clients, offers_in, strict=True):
            _ok(
                await client.call(
                    "POST",
                    f"/v1/bank/applications/{app_id}/offers",
                    {
                        "amount_idr": amount,
                        "rate_pa": rate,
                        "tenor_days": 60,
                        "advance_pct": "80",
                        "fees_idr": fees,
                    },
                ),
                201,
            )
        offers = _ok(await financing.get(f"/v1/applications/{app_id}/offers", headers=dinas))
        best = offers[0]
        winner = next(c for c in clients if c.bank.id == best["bank_id"])
        say(
            "   Offers side by side: "
            + "; ".join(
                f"{next(c.bank.name for c in clients if c.bank.id == o['bank_id'])} "
                f"{float(o['rate_pa']) * 100:.1f}% p.a., cost Rp {o['total_cost_idr']:,}"
                for o in offers
            )
            + f". The Dinas takes {winner.bank.name}'s."
        )
        _ok(
            await financing.post(
                f"/v1/applications/{app_id}/offers/{best['id']}/accept", headers=dinas | _idem()
            )
        )
        _ok(
            await winner.call(
                "POST", f"/v1/bank/applications/{app_id}/decision", {"decision": "approve"}
            )
        )
        today = date.today()
        _ok(
            await winner.call(
                "POST",
                f"/v1/bank/applications/{app_id}/agreement",
                {"agreement_reference": "AKAD-PO-001", "signed_on": today.isoformat()},
            )
        )
        loan = _ok(
            await winner.call(
                "POST",
                f"/v1/bank/applications/{app_id}/disbursement",
                {"amount_idr": amount, "disbursed_on": today.isoformat(), "reference": "DISB-001"},
            ),
            201,
        )
        say(f"   Approved, signed and disbursed: Rp {loan['principal_idr']:,}.")
        await pause("disbursed")

        # 5. Delivery, invoice, payment: the closed loop repays the loan.
        say("5. The workshops deliver; the anchor records the BAST; invoices are paid.")
        for order in orders:
            qty = order["quantity"]
            url = f"/v1/purchase-orders/{order['id']}"
            _ok(
                await supply.post(
                    f"{url}/goods-receipt",
                    json={"quantity_received": qty, "quantity_accepted": qty},
                    headers=anchor_h | _idem(),
                )
            )
            invoiced = _ok(
                await supply.post(
                    f"{url}/invoice",
                    json={"invoice_number": f"INV-{order['po_number']}"},
                    headers=dinas | _idem(),
                )
            )
            if order["id"] == po["id"]:
                rec.invoice_amount_idr = invoiced["invoice"]["amount_idr"]
            await pause(f"invoiced:{order['id']}")
            paid = _ok(
                await supply.post(
                    f"{url}/payment",
                    json={"payment_reference": f"VA-{order['po_number']}"},
                    headers=anchor_h | _idem(),
                )
            )
            rec.orders.append(
                {
                    "po_id": order["id"],
                    "amount_idr": order["amount_idr"],
                    "invoice_idr": paid["invoice"]["amount_idr"],
                    "status": paid["status"],
                }
            )

        async def loan_closed() -> dict[str, Any] | None:
            state = _ok(await winner.call("GET", f"/v1/bank/loans/{loan['id']}"))
            return state if state["status"] == "closed" else None

        loan = await eventually(loan_closed, limit, "the closed-loop repayment")
        rec.loan = loan
        (repayment,) = loan["repayments"]
        rec.repayment = repayment
        programme = _ok(await winner.call("GET", f"/v1/bank/programmes/{winner.bank.programme_id}"))
        rec.limits_after = {
            layer["kind"]: {k: layer[k] for k in ("limit_idr", "reserved_idr", "used_idr")}
            for layer in programme["limits"]
        }
        _reconcile(rec, amount)
        say(
            f"   The anchor's Rp {repayment['amount_idr']:,} went to interest "
            f"Rp {repayment['interest_idr']:,} and principal Rp {repayment['principal_idr']:,}; "
            f"Rp {repayment['remainder_idr']:,} reached the UMKM. Loan {loan['status']} "
            f"({loan.get('closure_reason')}); the bank's limits are free again."
        )
    say("Every amount reconciles." if not rec.problems else f"PROBLEMS: {rec.problems}")
    return rec


REGISTERED = "id.umkm.registry.umkm.registered."
ACCEPTED = "id.umkm.supply_chain.purchase_order.accepted."


async def events_applied(service: httpx.AsyncClient, type_prefix: str) -> float:
    """How many events of a type the service's consumers have applied since it started (from
    its /metrics: the only way to know from outside how far an event-fed read model is)."""
    text = (await service.get("/metrics")).text
    applied = 0.0
    for labels, value in re.findall(r"^umkm_events_consumed_total\{([^}]*)\} (\S+)$", text, re.M):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs.get("outcome") == "applied" and pairs.get("type", "").startswith(type_prefix):
            applied += float(value)
    return applied


def _reconcile(rec: Reconciliation, principal: int) -> None:
    rep = rec.repayment
    rec.check(
        "one repayment, from the anchor's invoice payment",
        rep["source"] == "anchor_invoice_payment",
    )
    rec.check("the repayment is the invoice amount", rep["amount_idr"] == rec.invoice_amount_idr)
    rec.check(
        "interest + principal + remainder = payment",
        rep["interest_idr"] + rep["principal_idr"] + rep["remainder_idr"] == rep["amount_idr"],
    )
    rec.check("the principal is repaid in full", rep["principal_idr"] == principal)
    rec.check("the loan is closed as paid", rec.loan.get("closure_reason") == "paid")
    rec.check("nothing is outstanding", rec.loan["outstanding_idr"] == 0)
    rec.check(
        "the remainder was paid out to the UMKM",
        rec.loan["remainder_paid_out_idr"] == rep["remainder_idr"],
    )
    rec.check(
        "every order is paid at its invoice amount",
        all(o["status"] == "paid" and o["invoice_idr"] == o["amount_idr"] for o in rec.orders),
    )
    rec.check(
        "the bank's limits recovered",
        all(v["reserved_idr"] == 0 and v["used_idr"] == 0 for v in rec.limits_after.values()),
    )


async def _onboard_bank(
    financing: httpx.AsyncClient, ministry: dict[str, str], name: str, code: str
) -> Bank:
    code = f"{code}{uuid.uuid4().hex[:4].upper()}"
    created = _ok(
        await financing.post(
            "/v1/banks", json={"name": name, "code": code}, headers=ministry | _idem()
        ),
        201,
    )
    token = _ok(
        await financing.post(
            "/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": created["client_id"],
                "client_secret": created["client_secret"],
            },
        )
    )
    return Bank(
        name, created["id"], created["partner_id"], created["signing_secret"], token["access_token"]
    )


def _report_line(report: dict[str, Any]) -> str:
    q = report.get("quality", {})
    size, compact = q.get("size", {}), q.get("compactness_km", {})
    return (
        f"{q.get('clusters', 0)} clusters of {q.get('members', 0):,} UMKM, sizes "
        f"{size.get('min', '-')}-{size.get('max', '-')}, "
        f"{q.get('share_members_within_bounds', 0):.0%} of members in clusters within bounds, "
        f"p95 distance to the centre {compact.get('p95', 0):.0f} km, sector purity "
        f"{q.get('sector_purity', 0):.0%}; {len(report.get('undersized_groups', []))} undersized "
        f"groups joined or marked forming (reasons in the report)."
    )


def main(argv: list[str] | None = None) -> int:
    """Tell the story against `make up` (started here when it is not running)."""
    from umkm_platform import stack
    from umkm_shared.auth import Actor, ActorKind
    from umkm_shared.auth.tokens import TokenIssuer
    from umkm_shared.devkeys import dev_secrets

    parser = argparse.ArgumentParser(prog="python -m umkm_platform.stack", description=__doc__)
    parser.add_argument("--national-sample", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=stack.ROOT / ".data" / "stack")
    args = parser.parse_args(argv)
    if stack.up(args.data_dir) != 0:
        return 1
    secrets = dev_secrets(args.data_dir / "keys")
    issuer = TokenIssuer(
        secrets["jwt_private_key"], issuer="https://auth.umkm.go.id", audience="umkm-platform"
    )

    def token(kind: str, **kw: Any) -> dict[str, str]:
        actor = Actor(kind=ActorKind(kind), client_id=f"demo-{kind}", **kw)
        return {"Authorization": f"Bearer {issuer.issue(actor).access_token}"}

    urls = {s.name: s.url for s in stack.STACK_SERVICES}
    platform = Platform(
        urls["registry"], urls["clustering"], urls["supply-chain"], urls["financing"], token
    )
    print()
    rec = asyncio.run(run_story(platform, national_sample=args.national_sample))
    return 0 if not rec.problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
