"""Builders shared by the settlement tests."""

from __future__ import annotations

from marketplace.settlement import Advance, Case, Cost, Party


def make_case(
    *,
    parties: list[tuple[str, int]],
    claim: int,
    hammer: int,
    costs: list[int] | None = None,
    advances: list[tuple[str, int]] | None = None,
    forfeited_deposits: int = 0,
    commission_bp: int = 0,
    premium_bp: int = 0,
    premium_schedule: str = "flat",
    currency: str = "CNY",
) -> Case:
    return Case(
        currency=currency,
        hammer=hammer,
        forfeited_deposits=forfeited_deposits,
        commission_bp=commission_bp,
        premium_bp=premium_bp,
        premium_schedule=premium_schedule,  # type: ignore[arg-type]
        costs=[Cost(kind=f"cost {index}", amount=amount) for index, amount in enumerate(costs or [])],
        claim=claim,
        parties=[Party(role=role, ratio_bp=ratio) for role, ratio in parties],
        advances=[Advance(role=role, amount=amount) for role, amount in advances or []],
    )


DOMAIN_EXAMPLE = make_case(
    parties=[("bank", 2000), ("guarantor", 4000), ("risk_pool", 4000)],
    claim=100_000_000,
    hammer=70_000_000,
    costs=[2_000_000],
    advances=[("guarantor", 40_000_000), ("risk_pool", 40_000_000)],
)
