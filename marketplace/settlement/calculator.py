"""The settlement (清算) of one disposal: a pure function from a case to a statement.

All amounts are integers in the currency's minor unit (fen for CNY); ratios are integer basis
points. The rules are those of ``docs/domain.md`` § Settlement:

- ``premium`` is the buyer premium, paid on top of the hammer and kept by the exchange; it is
  reported, never part of the proceeds.
- ``commission = apply_bp(hammer, commission_bp)`` and ``costs_total`` are deducted from the
  proceeds: ``net = max(0, hammer + forfeited_deposits − commission − costs_total)``.
  ``shortfall`` is what the proceeds could not cover when ``net`` is floored at 0; it stays owed
  outside this waterfall.
- ``recovered = min(net, claim)``, ``surplus_to_pledgor = net − recovered``,
  ``loss = claim − recovered``.
- ``loss_share`` splits ``loss`` by the parties' ratios with :func:`marketplace.money.allocate`
  (largest remainder, ties to the party listed first).
- A non-bank party receives ``advance − loss_share`` (negative: it still owes the bank); the bank
  receives ``recovered − Σ non-bank receives``. Hence every party's burden equals its loss share
  exactly: ``advance − receives`` for a non-bank party and ``claim − Σ advances − receives`` for
  the bank.

:func:`compute_statement` validates first and raises :class:`SettlementInvalid` with a stable
``code`` for every invalid case; for every valid case the statement it returns is ``balanced``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from marketplace.money import BP_WHOLE, CURRENCIES, allocate, apply_bp
from marketplace.settlement.premium import PremiumSchedule, buyer_premium

BANK: Final = "bank"
ROLES: Final[frozenset[str]] = frozenset({"bank", "guarantor", "risk_pool", "valuer", "insurer"})
MAX_AMOUNT: Final = 10**15


class SettlementInvalid(Exception):  # the API layer maps every code to 422
    """A case that cannot be settled; ``code`` is stable, ``detail`` is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Cost(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: str
    amount: int


class Party(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    role: str
    ratio_bp: int


class Advance(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    role: str
    amount: int


class Case(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The input of a settlement (``POST /api/settlement/preview``).

    ``premium_schedule="court_tiered"`` applies to CNY only and takes no ``premium_bp`` (it must be
    0). Several advances for one role are summed (a guarantor may pay in instalments).
    """

    currency: str = "CNY"
    hammer: int
    forfeited_deposits: int = 0
    commission_bp: int = 0
    premium_bp: int = 0
    premium_schedule: PremiumSchedule = "flat"
    costs: list[Cost] = msgspec.field(default_factory=list)
    claim: int
    parties: list[Party]
    advances: list[Advance] = msgspec.field(default_factory=list)


class StatementLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    role: str
    ratio_bp: int
    advance: int
    loss_share: int
    receives: int


class Statement(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The outcome of a settlement, in the parties' order.

    ``buyer_pays = hammer + premium``; ``bank_receives`` repeats the bank line's ``receives``.
    """

    currency: str
    hammer: int
    premium: int
    commission: int
    costs_total: int
    net: int
    claim: int
    recovered: int
    loss: int
    surplus_to_pledgor: int
    lines: list[StatementLine]
    balanced: bool
    forfeited_deposits: int
    shortfall: int
    buyer_pays: int
    bank_receives: int


def _check_amount(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise SettlementInvalid("negative_amount", f"{name} is negative ({value})")
    if value > MAX_AMOUNT:
        raise SettlementInvalid("amount_too_large", f"{name} is above {MAX_AMOUNT} ({value})")


def _check_bp(name: str, value: int, too_large_code: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise SettlementInvalid("negative_amount", f"{name} is negative ({value})")
    if value > BP_WHOLE:
        raise SettlementInvalid(too_large_code, f"{name} is above {BP_WHOLE} bp ({value})")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise SettlementInvalid("unknown_role", f"role {role!r} is not one of {', '.join(sorted(ROLES))}")


def validate_case(case: Case) -> None:
    """Raise :class:`SettlementInvalid` for the first problem found, checked in this order.

    ``bad_currency``; ``negative_amount`` / ``amount_too_large`` (hammer, forfeited deposits,
    claim, each cost and their total, each advance); ``bad_premium`` (premium or commission above
    10 000 bp, an unknown schedule, or a court-tiered premium with a ``premium_bp`` or outside CNY);
    ``unknown_role``, ``duplicate_role``, ``bank_line_missing``, ``bad_ratio`` (negative ratios
    are ``negative_amount``), ``ratios_not_10000``; then advances: ``unknown_role``,
    ``bank_advance`` (the bank advances nothing to itself), ``advance_without_party``,
    ``advance_above_claim`` (one advance, or all of them together, above the claim).
    """
    if case.currency not in CURRENCIES:
        raise SettlementInvalid(
            "bad_currency", f"currency {case.currency!r} is not one of {', '.join(sorted(CURRENCIES))}"
        )
    _check_amount("hammer", case.hammer)
    _check_amount("forfeited_deposits", case.forfeited_deposits)
    _check_amount("claim", case.claim)
    for cost in case.costs:
        _check_amount(f"cost {cost.kind!r}", cost.amount)
    _check_amount("costs total", sum(cost.amount for cost in case.costs))
    for advance in case.advances:
        _check_amount(f"advance of {advance.role!r}", advance.amount)

    _check_bp("premium_bp", case.premium_bp, "bad_premium")
    _check_bp("commission_bp", case.commission_bp, "bad_premium")
    if case.premium_schedule not in ("flat", "court_tiered"):
        raise SettlementInvalid("bad_premium", f"unknown premium schedule {case.premium_schedule!r}")
    if case.premium_schedule == "court_tiered":
        if case.premium_bp != 0:
            raise SettlementInvalid("bad_premium", "the court-tiered schedule takes no premium_bp")
        if case.currency != "CNY":
            raise SettlementInvalid("bad_premium", "the court-tiered schedule is in CNY only")

    roles: set[str] = set()
    for party in case.parties:
        _check_role(party.role)
        if party.role in roles:
            raise SettlementInvalid("duplicate_role", f"role {party.role!r} is listed twice")
        roles.add(party.role)
    if BANK not in roles:
        raise SettlementInvalid("bank_line_missing", "the parties must include the bank")
    for party in case.parties:
        _check_bp(f"ratio of {party.role!r}", party.ratio_bp, "bad_ratio")
    ratio_sum = sum(party.ratio_bp for party in case.parties)
    if ratio_sum != BP_WHOLE:
        raise SettlementInvalid("ratios_not_10000", f"ratios sum to {ratio_sum} bp, not {BP_WHOLE}")

    for advance in case.advances:
        _check_role(advance.role)
        if advance.role == BANK:
            raise SettlementInvalid("bank_advance", "the bank cannot advance to itself")
        if advance.role not in roles:
            raise SettlementInvalid("advance_without_party", f"{advance.role!r} advances but is not a party")
        if advance.amount > case.claim:
            raise SettlementInvalid(
                "advance_above_claim", f"advance of {advance.role!r} is above the claim ({advance.amount})"
            )
    advances_total = sum(advance.amount for advance in case.advances)
    if advances_total > case.claim:
        raise SettlementInvalid("advance_above_claim", f"advances total {advances_total}, above the claim")


def compute_statement(case: Case) -> Statement:
    """Settle ``case``; raise :class:`SettlementInvalid` if it is invalid (see :func:`validate_case`).

    ``balanced`` re-checks the result: Σ receives + surplus_to_pledgor == net; Σ receives ==
    recovered; Σ loss_share == loss; recovered + loss == claim; and
    ``net + commission + costs_total == hammer + forfeited_deposits + shortfall`` with ``shortfall``
    0 whenever ``net > 0`` (so the identity is exact then) and ``shortfall > 0`` only when the
    deductions exceed the gross and ``net`` is floored at 0. It is True for every valid case.
    """
    validate_case(case)

    premium = buyer_premium(case.hammer, case.premium_schedule, case.premium_bp)
    commission = apply_bp(case.hammer, case.commission_bp)
    costs_total = sum(cost.amount for cost in case.costs)
    gross = case.hammer + case.forfeited_deposits
    net = max(0, gross - commission - costs_total)
    shortfall = max(0, commission + costs_total - gross)
    recovered = min(net, case.claim)
    surplus_to_pledgor = net - recovered
    loss = case.claim - recovered

    loss_shares = allocate(loss, [party.ratio_bp for party in case.parties])
    advanced: dict[str, int] = {}
    for advance in case.advances:
        advanced[advance.role] = advanced.get(advance.role, 0) + advance.amount
    non_bank_receives = sum(
        advanced.get(party.role, 0) - share
        for party, share in zip(case.parties, loss_shares, strict=True)
        if party.role != BANK
    )
    bank_receives = recovered - non_bank_receives

    lines = [
        StatementLine(
            role=party.role,
            ratio_bp=party.ratio_bp,
            advance=advanced.get(party.role, 0),
            loss_share=share,
            receives=bank_receives if party.role == BANK else advanced.get(party.role, 0) - share,
        )
        for party, share in zip(case.parties, loss_shares, strict=True)
    ]
    receives_total = sum(line.receives for line in lines)
    balanced = (
        receives_total + surplus_to_pledgor == net
        and receives_total == recovered
        and sum(line.loss_share for line in lines) == loss
        and recovered + loss == case.claim
        and net + commission + costs_total == gross + shortfall
        and (shortfall == 0 or net == 0)
    )
    return Statement(
        currency=case.currency,
        hammer=case.hammer,
        premium=premium,
        commission=commission,
        costs_total=costs_total,
        net=net,
        claim=case.claim,
        recovered=recovered,
        loss=loss,
        surplus_to_pledgor=surplus_to_pledgor,
        lines=lines,
        balanced=balanced,
        forfeited_deposits=case.forfeited_deposits,
        shortfall=shortfall,
        buyer_pays=case.hammer + premium,
        bank_receives=bank_receives,
    )


def front_loaded_advances(claim: int, parties: Sequence[Party]) -> list[Advance]:
    """The front-loaded advances ``A_i = r_i × claim`` of the non-bank parties, in their order.

    The claim is allocated over every party's ratio (the bank's included) so the parts sum to the
    claim exactly; the bank's part is what it carries itself and is not an advance.
    """
    parts = allocate(claim, [party.ratio_bp for party in parties])
    return [
        Advance(role=party.role, amount=part)
        for party, part in zip(parties, parts, strict=True)
        if party.role != BANK
    ]
