"""Buyer premium: paid by the buyer on top of the hammer; exchange revenue, never proceeds.

Two schedules:

- ``flat``: ``apply_bp(hammer, premium_bp)``, rounded half up once.
- ``court_tiered``: a marginal schedule in CNY fen — 5 % up to ¥2 M, 3 % on ¥2–10 M, 2 % on
  ¥10–50 M, 1 % on ¥50–100 M, 0.5 % above. Each bracket contributes ``fen × bp`` exactly; the sum
  is divided by 10 000 and rounded half up once, so no per-bracket rounding drifts.

The premium never decreases as the hammer rises, and the tiered premium is continuous: one fen
more moves it by at most one fen.
"""

from __future__ import annotations

from typing import Final, Literal

from marketplace.money import BP_WHOLE, apply_bp

PremiumSchedule = Literal["flat", "court_tiered"]

COURT_TIERED_BRACKETS: Final[tuple[tuple[int | None, int], ...]] = (
    (200_000_000, 500),
    (1_000_000_000, 300),
    (5_000_000_000, 200),
    (10_000_000_000, 100),
    (None, 50),
)


def court_tiered_premium(hammer: int) -> int:
    """The court-tiered premium on ``hammer`` fen (marginal brackets, one half-up rounding)."""
    if hammer < 0:
        raise ValueError("hammer must be non-negative")
    bp_fen = 0
    lower = 0
    for upper, bp in COURT_TIERED_BRACKETS:
        top = hammer if upper is None else min(hammer, upper)
        if top <= lower:
            break
        bp_fen += (top - lower) * bp
        if upper is None:
            break
        lower = upper
    return (bp_fen + BP_WHOLE // 2) // BP_WHOLE


def buyer_premium(hammer: int, schedule: PremiumSchedule, premium_bp: int) -> int:
    """The buyer premium under ``schedule``; ``premium_bp`` is used by ``flat`` only."""
    if schedule == "court_tiered":
        return court_tiered_premium(hammer)
    return apply_bp(hammer, premium_bp)
