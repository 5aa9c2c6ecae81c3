"""Server-drawn SVG charts (the settlement waterfall, the statistics bars): geometry only, pure.

Invariants:
- every coordinate is an integer computed with integer arithmetic from integer amounts, so a
  chart never rounds an amount; bars of one chart share one scale;
- a waterfall's running total starts at 0, each ``up`` step adds its amount, each ``down`` step
  subtracts it, and a ``total`` bar stands from 0 to the running total, which it must equal
  (``WaterfallMismatch`` otherwise): the chart cannot show books that do not balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

StepKind = Literal["up", "down", "total"]

WIDTH: Final = 640
HEIGHT: Final = 260
PAD_TOP: Final = 24
PAD_BOTTOM: Final = 56
PAD_SIDE: Final = 12


class WaterfallMismatch(ValueError):
    """A ``total`` step that is not the running total of the steps before it."""


@dataclass(frozen=True)
class Step:
    label: str
    amount: int
    kind: StepKind


@dataclass(frozen=True)
class Bar:
    label: str
    amount: int
    kind: str
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> int:
        return self.x + self.width // 2


def _scale(value: int, top: int) -> int:
    """Pixels for ``value`` on a chart whose largest value is ``top``."""
    usable = HEIGHT - PAD_TOP - PAD_BOTTOM
    return value * usable // top if top > 0 else 0


def waterfall(steps: Sequence[Step]) -> list[Bar]:
    running = 0
    spans: list[tuple[Step, int, int]] = []
    for step in steps:
        if step.kind == "up":
            spans.append((step, running, running + step.amount))
            running += step.amount
        elif step.kind == "down":
            spans.append((step, running - step.amount, running))
            running -= step.amount
        else:
            if step.amount != running:
                raise WaterfallMismatch(f"{step.label}: {step.amount} is not the running total {running}")
            spans.append((step, 0, running))
    top = max([high for _, _, high in spans] + [1])
    base = HEIGHT - PAD_BOTTOM
    slot = (WIDTH - 2 * PAD_SIDE) // max(1, len(spans))
    bars = []
    for index, (step, low, high) in enumerate(spans):
        y_high = base - _scale(max(low, high), top)
        y_low = base - _scale(min(low, high), top)
        bars.append(
            Bar(
                label=step.label,
                amount=step.amount,
                kind=step.kind,
                x=PAD_SIDE + index * slot + slot // 8,
                y=y_high,
                width=slot - slot // 4,
                height=max(1, y_low - y_high),
            )
        )
    return bars


def bars(values: Sequence[tuple[str, int]]) -> list[Bar]:
    """A plain bar chart of non-negative counts or amounts."""
    top = max([value for _, value in values] + [1])
    base = HEIGHT - PAD_BOTTOM
    slot = (WIDTH - 2 * PAD_SIDE) // max(1, len(values))
    out = []
    for index, (label, value) in enumerate(values):
        height = _scale(max(0, value), top)
        if value > 0:
            height = max(1, height)
        out.append(
            Bar(
                label=label,
                amount=value,
                kind="bar",
                x=PAD_SIDE + index * slot + slot // 8,
                y=base - height,
                width=slot - slot // 4,
                height=height,
            )
        )
    return out
