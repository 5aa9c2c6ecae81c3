"""Properties every settlement keeps, over generated valid cases.

Proved, not sampled, by the formulas in ``marketplace.settlement.calculator``:

- each party's burden equals its loss share exactly: ``advance − receives`` for a non-bank party,
  ``claim − Σ advances − receives`` for the bank;
- in front-loaded mode (``A_i = allocate(claim, r)_i``) each party receives
  ``A_i − allocate(loss, r)_i``; both terms are within 1 fen of their exact shares, so
  ``|receives_i − r_i × recovered / 10 000| < 2`` fen — not always within 1 fen, only within 2.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.money import allocate
from marketplace.settlement import (
    MAX_AMOUNT,
    Advance,
    Case,
    Cost,
    Party,
    PremiumSchedule,
    SettlementInvalid,
    Statement,
    compute_statement,
    court_tiered_premium,
    front_loaded_advances,
)

OTHER_ROLES = ["guarantor", "risk_pool", "valuer", "insurer"]
FAST = settings(max_examples=200, deadline=None)


@st.composite
def parties_strategy(draw: st.DrawFn) -> list[Party]:
    others = draw(st.lists(st.sampled_from(OTHER_ROLES), unique=True, max_size=4))
    roles = draw(st.permutations(["bank", *others]))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=len(roles) - 1, max_size=len(roles) - 1)))
    bounds = [0, *cuts, 10_000]
    return [Party(role=role, ratio_bp=bounds[i + 1] - bounds[i]) for i, role in enumerate(roles)]


amounts = st.one_of(st.integers(0, 1_000), st.integers(0, 10**9), st.integers(0, MAX_AMOUNT))


@st.composite
def cases(draw: st.DrawFn, mode: str | None = None) -> Case:
    parties = draw(parties_strategy())
    claim = draw(amounts)
    mode = mode or draw(st.sampled_from(["front_loaded", "post_disposal", "partial"]))
    non_bank = [party.role for party in parties if party.role != "bank"]
    advances: list[Advance]
    if mode == "front_loaded":
        advances = front_loaded_advances(claim, parties)
    elif mode == "post_disposal" or not non_bank:
        advances = []
    else:
        advanced_total = draw(st.integers(0, claim))
        weights = draw(st.lists(st.integers(0, 100), min_size=len(non_bank), max_size=len(non_bank)))
        weights = weights if sum(weights) else [1] * len(non_bank)
        advances = [
            Advance(role=role, amount=part)
            for role, part in zip(non_bank, allocate(advanced_total, weights), strict=True)
        ]
        paid_in_instalments = draw(st.booleans())
        if advances and paid_in_instalments:
            first, *rest = advances
            instalment = draw(st.integers(0, first.amount))
            advances = [
                Advance(role=first.role, amount=instalment),
                *rest,
                Advance(role=first.role, amount=first.amount - instalment),
            ]
    schedule: PremiumSchedule = draw(st.sampled_from(["flat", "court_tiered"]))
    cost_cap = draw(st.sampled_from([1_000, 10**9, MAX_AMOUNT // 4]))
    return Case(
        hammer=draw(amounts),
        forfeited_deposits=draw(st.one_of(st.just(0), st.integers(0, 10**8))),
        commission_bp=draw(st.one_of(st.just(0), st.integers(0, 10_000))),
        premium_bp=0 if schedule == "court_tiered" else draw(st.integers(0, 10_000)),
        premium_schedule=schedule,
        costs=[
            Cost(kind=f"fee {i}", amount=a)
            for i, a in enumerate(draw(st.lists(st.integers(0, cost_cap), max_size=4)))
        ],
        claim=claim,
        parties=parties,
        advances=advances,
    )


def advanced_by(case: Case) -> dict[str, int]:
    totals: dict[str, int] = {}
    for advance in case.advances:
        totals[advance.role] = totals.get(advance.role, 0) + advance.amount
    return totals


@FAST
@given(case=cases())
def test_every_statement_is_balanced_and_reconciles(case: Case) -> None:
    statement = compute_statement(case)
    assert statement.balanced is True
    assert sum(line.loss_share for line in statement.lines) == statement.loss
    assert sum(line.receives for line in statement.lines) == statement.recovered
    assert statement.recovered + statement.surplus_to_pledgor == statement.net
    assert statement.recovered + statement.loss == case.claim
    assert statement.recovered == min(statement.net, case.claim)
    gross = case.hammer + case.forfeited_deposits
    deductions = statement.commission + statement.costs_total
    if gross >= deductions:
        assert statement.net + deductions == gross
        assert statement.shortfall == 0
    else:
        assert statement.net == 0
        assert statement.shortfall == deductions - gross
    assert [line.role for line in statement.lines] == [party.role for party in case.parties]
    assert statement.premium >= 0
    assert statement.buyer_pays == case.hammer + statement.premium


@FAST
@given(case=cases())
def test_each_partys_burden_is_exactly_its_loss_share(case: Case) -> None:
    statement = compute_statement(case)
    advanced = advanced_by(case)
    for line in statement.lines:
        if line.role == "bank":
            burden = case.claim - sum(advanced.values()) - line.receives
        else:
            assert line.advance == advanced.get(line.role, 0)
            burden = line.advance - line.receives
        assert burden == line.loss_share


@FAST
@given(case=cases())
def test_loss_shares_are_within_one_fen_of_the_ratio(case: Case) -> None:
    statement = compute_statement(case)
    for line in statement.lines:
        assert abs(line.loss_share * 10_000 - line.ratio_bp * statement.loss) < 10_000


@FAST
@given(case=cases(mode="front_loaded"))
def test_front_loaded_parties_receive_their_ratio_of_recovered_within_two_fen(case: Case) -> None:
    statement = compute_statement(case)
    for line in statement.lines:
        assert abs(line.receives * 10_000 - line.ratio_bp * statement.recovered) < 20_000


@FAST
@given(case=cases(mode="post_disposal"))
def test_post_disposal_the_bank_takes_the_proceeds_and_the_others_pay_their_share(case: Case) -> None:
    statement = compute_statement(case)
    for line in statement.lines:
        if line.role == "bank":
            assert line.receives == statement.recovered + statement.loss - line.loss_share
        else:
            assert line.receives == -line.loss_share


@FAST
@given(case=cases(), seed=st.integers(0, 2**32))
def test_permuting_costs_or_advances_changes_nothing(case: Case, seed: int) -> None:
    shuffler = random.Random(seed)
    costs, advances = list(case.costs), list(case.advances)
    shuffler.shuffle(costs)
    shuffler.shuffle(advances)
    permuted = msgspec.structs.replace(case, costs=costs, advances=advances)
    assert compute_statement(permuted) == compute_statement(case)


@FAST
@given(case=cases())
def test_a_statement_survives_a_json_round_trip(case: Case) -> None:
    statement = compute_statement(case)
    assert msgspec.json.decode(msgspec.json.encode(statement), type=Statement) == statement
    assert msgspec.json.decode(msgspec.json.encode(case), type=Case) == case


@settings(max_examples=300, deadline=None)
@given(hammer=st.integers(0, 3 * 10**10))
def test_the_tiered_premium_rises_by_at_most_a_fen_per_fen(hammer: int) -> None:
    step = court_tiered_premium(hammer + 1) - court_tiered_premium(hammer)
    assert step in (0, 1)
    assert court_tiered_premium(hammer) * 10_000 <= hammer * 500 + 5_000


INVALID_CODES = {
    "ratios_not_10000",
    "negative_amount",
    "advance_above_claim",
    "unknown_role",
    "bank_line_missing",
    "duplicate_role",
    "advance_without_party",
    "bad_currency",
    "bad_ratio",
    "amount_too_large",
    "bad_premium",
    "bank_advance",
}
any_role = st.sampled_from(["bank", *OTHER_ROLES, "lawyer", "Bank", ""])
any_amount = st.one_of(st.integers(0, 10**12), st.integers(-5, 5), st.integers(-(10**16), 10**16))
any_bp = st.one_of(st.just(0), st.integers(0, 10_000), st.integers(-2, 10_002))
any_parties = st.one_of(
    parties_strategy().map(lambda parties: [msgspec.to_builtins(party) for party in parties]),
    st.lists(st.builds(dict, role=any_role, ratio_bp=any_bp), max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {
            "currency": st.sampled_from(["CNY", "CNY", "CNY", "USD", "cny", "XYZ"]),
            "hammer": any_amount,
            "forfeited_deposits": any_amount,
            "commission_bp": any_bp,
            "premium_bp": any_bp,
            "premium_schedule": st.sampled_from(["flat", "court_tiered"]),
            "costs": st.lists(st.builds(dict, kind=st.text(max_size=3), amount=any_amount), max_size=3),
            "claim": any_amount,
            "parties": any_parties,
            "advances": st.one_of(
                st.just([]), st.lists(st.builds(dict, role=any_role, amount=any_amount), max_size=3)
            ),
        }
    )
)
def test_any_decoded_case_settles_balanced_or_fails_with_a_known_code(data: dict[str, Any]) -> None:
    case = msgspec.json.decode(msgspec.json.encode(data), type=Case)
    try:
        outcome = "balanced" if compute_statement(case).balanced else "unbalanced"
    except SettlementInvalid as invalid:
        outcome = invalid.code
    assert outcome in {"balanced", *INVALID_CODES}


def corrupt(case: Case, how: str) -> tuple[Case, str]:
    """One corruption of a valid case and the code it must fail with."""
    replace = msgspec.structs.replace
    parties, advances = list(case.parties), list(case.advances)
    non_bank = [party.role for party in parties if party.role != "bank"]
    if how == "currency":
        return replace(case, currency="XYZ"), "bad_currency"
    if how == "negative_hammer":
        return replace(case, hammer=-1 - case.hammer), "negative_amount"
    if how == "negative_cost":
        return replace(case, costs=[*case.costs, Cost(kind="refund", amount=-1)]), "negative_amount"
    if how == "huge_claim":
        return replace(case, claim=MAX_AMOUNT + 1), "amount_too_large"
    if how == "huge_premium":
        return replace(case, premium_schedule="flat", premium_bp=10_001), "bad_premium"
    if how == "unknown_role":
        return replace(case, parties=[*parties, Party(role="lawyer", ratio_bp=0)]), "unknown_role"
    if how == "duplicate_role":
        return replace(case, parties=[*parties, Party(role=parties[0].role, ratio_bp=0)]), "duplicate_role"
    if how == "no_bank":
        without_bank = [party for party in parties if party.role != "bank"]
        return replace(case, parties=without_bank), "bank_line_missing"
    if how == "ratio_plus_one":
        bumped = Party(role=parties[-1].role, ratio_bp=parties[-1].ratio_bp + 1)
        code = "bad_ratio" if bumped.ratio_bp > 10_000 else "ratios_not_10000"
        return replace(case, parties=[*parties[:-1], bumped]), code
    if how == "bank_advance":
        return replace(case, advances=[*advances, Advance(role="bank", amount=0)]), "bank_advance"
    if how == "stranger_advance":
        stranger = next(role for role in OTHER_ROLES if role not in non_bank) if len(non_bank) < 4 else None
        if stranger is None:
            return replace(case, advances=[*advances, Advance(role="lawyer", amount=0)]), "unknown_role"
        return replace(case, advances=[*advances, Advance(role=stranger, amount=0)]), "advance_without_party"
    if how == "advance_above_claim" and non_bank and case.claim < MAX_AMOUNT:
        extra = Advance(role=non_bank[0], amount=case.claim - sum(a.amount for a in advances) + 1)
        return replace(case, advances=[*advances, extra]), "advance_above_claim"
    return replace(case, hammer=MAX_AMOUNT + 1), "amount_too_large"


@FAST
@given(
    case=cases(),
    how=st.sampled_from(
        [
            "currency",
            "negative_hammer",
            "negative_cost",
            "huge_claim",
            "huge_premium",
            "unknown_role",
            "duplicate_role",
            "no_bank",
            "ratio_plus_one",
            "bank_advance",
            "stranger_advance",
            "advance_above_claim",
        ]
    ),
)
def test_one_corruption_of_a_valid_case_fails_with_its_code(case: Case, how: str) -> None:
    corrupted, code = corrupt(case, how)
    with pytest.raises(SettlementInvalid) as invalid:
        compute_statement(corrupted)
    assert invalid.value.code == code
