"""KUR rules as versioned configuration: the seeded version (DOMAIN.md figures), pre-screening
against them, the fixed rate on offers, and a new version published by the ministry. Plus the
pure domain rules: the state machine, interest, the closed-loop split, schedules and kol."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from financing_support import World, idem, mint, publish, umkm_event

from umkm_financing import domain
from umkm_financing.domain import EligibilityFacts, KurRules, seed_rules
from umkm_shared.ids import new_id

RULES = KurRules.model_validate(seed_rules())
OLD = date(2020, 1, 1)


def facts(**over: object) -> EligibilityFacts:
    base: dict[str, object] = {
        "known": True, "status": "active", "founded_on": OLD, "npwp": "0" * 16,
        "kbli_code": "10794", "bpjs_ketenagakerjaan": "BPJS123",
    }  # fmt: skip
    base.update(over)
    return EligibilityFacts(**base)  # type: ignore[arg-type]


def test_seeded_rules_carry_domain_figures() -> None:
    s = RULES.schemes
    assert s["kur_super_mikro"].max_amount_idr == 10_000_000
    assert (s["kur_mikro"].min_amount_idr, s["kur_mikro"].max_amount_idr) == (
        10_000_001,
        100_000_000,
    )
    assert (s["kur_kecil"].min_amount_idr, s["kur_kecil"].max_amount_idr) == (
        100_000_001,
        500_000_000,
    )
    assert s["kur_khusus"].requires_anchor and s["kur_khusus"].max_amount_idr == 500_000_000
    assert RULES.rate_for("kur_super_mikro", 5) == Decimal("0.03")
    assert [RULES.rate_for("kur_mikro", n) for n in range(6)] == [
        Decimal(x) for x in ("0.06", "0.07", "0.08", "0.09", "0.09", "0.09")
    ]
    assert RULES.rate_for("kur_khusus", 3) == Decimal("0.06")
    assert (RULES.npwp_required_above_idr, RULES.bpjs_required_above_idr) == (
        50_000_000,
        100_000_000,
    )
    assert RULES.min_business_age_months == 6 and RULES.no_collateral_up_to_idr == 100_000_000


@pytest.mark.parametrize(
    ("product", "amount", "over", "reason"),
    [
        ("kur_mikro", 10_000_000, {}, "amounts are"),
        ("kur_super_mikro", 10_000_001, {}, "amounts are"),
        ("kur_kecil", 600_000_000, {}, "amounts are"),
        ("kur_mikro", 60_000_000, {"npwp": None}, "NPWP"),
        ("kur_kecil", 150_000_000, {"bpjs_ketenagakerjaan": None}, "BPJS"),
        ("kur_mikro", 20_000_000, {"founded_on": date.today() - timedelta(days=120)}, "6 months"),
        ("kur_mikro", 20_000_000, {"founded_on": None}, "founding date"),
        ("kur_mikro", 20_000_000, {"active_kur_loans": 1}, "active KUR"),
        ("kur_mikro", 20_000_000, {"prior_kur_count": 2}, "at most 2 times"),
    ],
)
def test_kur_rules_refuse(product: str, amount: int, over: dict[str, object], reason: str) -> None:
    reasons = domain.check_kur(RULES, product, amount, facts(**over), date.today())
    assert any(reason in r for r in reasons), reasons


def test_kur_rules_accept_and_production_sectors_get_four_times() -> None:
    assert domain.check_kur(RULES, "kur_mikro", 50_000_000, facts(npwp=None), date.today()) == []
    assert domain.check_kur(RULES, "kur_super_mikro", 10_000_000, facts(), date.today()) == []
    farm = facts(kbli_code="01111", prior_kur_count=3)
    assert domain.check_kur(RULES, "kur_mikro", 20_000_000, farm, date.today()) == []
    offer = domain.check_kur_offer(RULES, "kur_mikro", 80_000_000, Decimal("0.07"), 0, True)
    assert {f for f, _ in offer} == {"body.rate_pa", "body.collateral_required"}


def test_every_step_has_a_webhook_type() -> None:
    from umkm_financing.service import WEBHOOK_TYPES

    assert set(WEBHOOK_TYPES) == set(domain.TRANSITIONS)


def test_state_machine_names_allowed_steps() -> None:
    assert domain.next_status("routed", "accept_offer") == "offer_accepted"
    with pytest.raises(domain.IllegalTransition) as e:
        domain.next_status("routed", "disburse")
    assert e.value.extra["allowed"] == ["accept_offer", "make_offer", "withdraw"]
    assert domain.allowed_actions("closed") == []
    with pytest.raises(domain.IllegalTransition):
        domain.next_status("disbursed", "withdraw")  # no withdrawal after disbursement


def test_money_rules() -> None:
    assert domain.interest_idr(100_000_000, Decimal("0.12"), 365) == 12_000_000
    assert domain.interest_idr(1_000, Decimal("0.06"), 1) == 0  # 0.16 rounds down
    assert domain.interest_idr(3_042, Decimal("0.06"), 1) == 1  # 0.50005 rounds half up
    for amount, interest, principal in [(10, 3, 5), (5, 7, 100), (1_000, 0, 999), (0, 5, 5)]:
        s = domain.allocate(amount, interest, principal)
        assert s.total == amount
        assert s.interest_idr == min(amount, interest)
        assert s.principal_idr == min(amount - s.interest_idr, principal)
    plan = domain.schedule("kur_mikro", 100_000_001, date(2026, 1, 1), 365)
    assert len(plan) == 12 and sum(a for _, a in plan) == 100_000_001
    assert domain.schedule("invoice_financing", 5, date(2026, 1, 1), 90) == [(date(2026, 4, 1), 5)]
    assert domain.days_past_due(plan, 0, date(2026, 1, 31)) == 0
    assert domain.days_past_due(plan, 0, date(2026, 3, 2)) == 30
    assert domain.days_past_due(plan, plan[0][1], date(2026, 3, 2)) == 0
    assert [domain.kol_for(d) for d in (0, 1, 90, 91, 120, 121, 180, 181)] == [
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
    ]


async def test_kur_prescreen_and_fixed_rate_over_the_api(world: World) -> None:
    client = world.client
    young = new_id()
    await publish(world.bus, umkm_event(young, npwp=None, founded=date.today() - timedelta(days=60)),
                  source="/registry")  # fmt: skip
    r = await client.post(
        "/v1/applications",
        json={"product": "kur_mikro", "umkm_id": str(young), "amount_requested_idr": 60_000_000,
              "tenor_days": 360},
        headers=world.anchor | idem(),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["status"] == "prescreen_failed"
    assert app["rules_version"] == RULES.version
    text = " ".join(app["prescreen"]["reasons"])
    assert "NPWP" in text and "6 months" in text
    r = await client.post(
        f"/v1/applications/{app['id']}/withdraw", json={}, headers=world.anchor | idem()
    )
    assert r.status_code == 409 and r.json()["allowed"] == []

    r = await client.post(
        "/v1/applications",
        json={"product": "kur_mikro", "umkm_id": str(world.umkm_ids[0]),
              "amount_requested_idr": 60_000_000, "tenor_days": 360, "prior_kur_count": 1},
        headers=world.anchor | idem(),
    )  # fmt: skip
    app = r.json()
    assert app["status"] == "routed", app["prescreen"]
    path = f"/v1/bank/applications/{app['id']}/offers"
    r = await world.bank_a.post(
        path, {"amount_idr": 60_000_000, "rate_pa": "0.06", "tenor_days": 360}
    )
    assert r.status_code == 422 and "0.07" in r.text  # second KUR: 7 %
    r = await world.bank_a.post(
        path,
        {
            "amount_idr": 60_000_000,
            "rate_pa": "0.07",
            "tenor_days": 360,
            "collateral_required": True,
        },
    )
    assert r.status_code == 422 and "body.collateral_required" in r.text
    r = await world.bank_a.post(
        path, {"amount_idr": 60_000_000, "rate_pa": "0.07", "tenor_days": 360}
    )
    assert r.status_code == 201, r.text


async def test_ministry_publishes_a_new_rules_version(world: World) -> None:
    client, ministry = world.client, mint(world.app, "ministry")
    new = RULES.model_dump(mode="json")
    new["version"] = f"test-{new_id().hex[-6:]}"
    new["effective_from"] = (date.today() - timedelta(days=1)).isoformat()
    new["schemes"]["kur_mikro"]["rates_pa_by_prior_count"] = ["0.05"]
    r = await client.post("/v1/kur-rules", json=new, headers=world.anchor | idem())
    assert r.status_code == 403
    bad = dict(new, schemes={k: v for k, v in new["schemes"].items() if k != "kur_kecil"})
    r = await client.post("/v1/kur-rules", json=bad, headers=ministry | idem())
    assert r.status_code == 422 and "kur_kecil" in r.text
    r = await client.post("/v1/kur-rules", json=new, headers=ministry | idem())
    assert r.status_code == 201, r.text
    r = await client.post("/v1/kur-rules", json=new, headers=ministry | idem())
    assert r.status_code == 409  # versions are immutable
    r = await client.get("/v1/kur-rules/current", headers=world.anchor)
    assert r.json()["version"] == new["version"]
    assert r.json()["schemes"]["kur_mikro"]["rates_pa_by_prior_count"] == ["0.05"]
    versions = [v["version"] for v in (await client.get("/v1/kur-rules", headers=ministry)).json()]
    assert RULES.version in versions and new["version"] in versions
