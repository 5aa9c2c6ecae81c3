"""Rule profiles: every number of the auction rules, and the integer arithmetic on them.

Invariants:
- a profile is immutable; ``spc2016`` is the Supreme People's Court 2016 table (the production
  default) and ``sandbox`` keeps every price rule of it while shortening durations, announcements
  and the soft-close window to seconds;
- ratios are integer basis points and money integer minor units; no float is ever involved;
- a floor is the ceiling of the exact value (``amount >= value × bp / 10 000`` holds exactly) and a
  cap is its floor, so a boundary amount is accepted and one unit beyond it is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

BASIS_POINTS = 10_000


@dataclass(frozen=True)
class RuleProfile:
    name: str
    min_duration: timedelta
    first_announcement: timedelta
    later_announcement: timedelta
    default_extension_seconds: int
    min_extension_seconds: int
    first_round_floor_bp: int
    later_round_max_cut_bp: int
    deposit_min_bp: int
    deposit_max_bp: int
    relist_within: timedelta
    sale_duration: timedelta
    sale_countdown: timedelta
    balance_due: timedelta
    loser_release_within: timedelta


SPC2016 = RuleProfile(
    name="spc2016",
    min_duration=timedelta(hours=24),
    first_announcement=timedelta(days=30),
    later_announcement=timedelta(days=15),
    default_extension_seconds=300,
    min_extension_seconds=300,
    first_round_floor_bp=7_000,
    later_round_max_cut_bp=2_000,
    deposit_min_bp=500,
    deposit_max_bp=2_000,
    relist_within=timedelta(days=30),
    sale_duration=timedelta(days=60),
    sale_countdown=timedelta(hours=24),
    balance_due=timedelta(days=10),
    loser_release_within=timedelta(hours=24),
)

SANDBOX = RuleProfile(
    name="sandbox",
    min_duration=timedelta(seconds=2),
    first_announcement=timedelta(0),
    later_announcement=timedelta(0),
    default_extension_seconds=300,
    min_extension_seconds=1,
    first_round_floor_bp=SPC2016.first_round_floor_bp,
    later_round_max_cut_bp=SPC2016.later_round_max_cut_bp,
    deposit_min_bp=SPC2016.deposit_min_bp,
    deposit_max_bp=SPC2016.deposit_max_bp,
    relist_within=SPC2016.relist_within,
    sale_duration=timedelta(seconds=120),
    sale_countdown=timedelta(seconds=60),
    balance_due=timedelta(days=1),
    loser_release_within=timedelta(hours=24),
)

PROFILES: Mapping[str, RuleProfile] = MappingProxyType({SPC2016.name: SPC2016, SANDBOX.name: SANDBOX})


def get_profile(name: str) -> RuleProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown auction rule profile {name!r}; known: {sorted(PROFILES)}") from None


def at_least_share(amount: int, bp: int) -> int:
    """The smallest integer ``x`` with ``x >= amount × bp / 10 000``."""
    return -((-amount * bp) // BASIS_POINTS)


def at_most_share(amount: int, bp: int) -> int:
    """The largest integer ``x`` with ``x <= amount × bp / 10 000``."""
    return (amount * bp) // BASIS_POINTS


def first_round_floor(profile: RuleProfile, valuation: int) -> int:
    return at_least_share(valuation, profile.first_round_floor_bp)


def later_round_floor(profile: RuleProfile, previous_starting_price: int) -> int:
    return at_least_share(previous_starting_price, BASIS_POINTS - profile.later_round_max_cut_bp)


def deposit_bounds(profile: RuleProfile, starting_price: int) -> tuple[int, int]:
    """The inclusive range of deposits an auction with this starting price may ask."""
    return (
        at_least_share(starting_price, profile.deposit_min_bp),
        at_most_share(starting_price, profile.deposit_max_bp),
    )
