"""The rule checks the operator sees before scheduling a round (pure: no I/O, no clock).

Invariants:
- each check is computed from the same pure rules the engine applies (``auction.rules``,
  ``auction.rounds.next_round``) and is ``None`` while the input it needs is missing;
- ``verdict`` is what :func:`auction.rounds.validate_round` itself says about the complete plan —
  ``"ok"`` or the code of the first rule it breaks — so the checklist can never approve a plan
  the service would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from auction.errors import ScheduleRejected
from auction.rounds import NextRound, PriorRound, RoundPlan, next_round, validate_round
from auction.rules import RuleProfile, deposit_bounds
from frontend.formatting import FormValueError, parse_amount, parse_local_datetime


@dataclass(frozen=True)
class Check:
    key: str
    ok: bool | None
    params: Mapping[str, object]


@dataclass(frozen=True)
class ScheduleReport:
    upcoming: NextRound | None
    checks: list[Check]
    verdict: str | None
    detail: str


@dataclass(frozen=True)
class PlanInput:
    kind: str
    starting_price: int | None
    increment: int | None
    deposit: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    extension_seconds: int | None


def read_plan(form: Mapping[str, str]) -> tuple[PlanInput, list[str]]:
    """The plan as typed; fields that cannot be read are ``None`` and named in the problems."""
    problems: list[str] = []

    def amount(name: str) -> int | None:
        text = form.get(name, "").strip()
        if not text:
            return None
        try:
            return parse_amount(text)
        except FormValueError:
            problems.append(name)
            return None

    def moment(name: str) -> datetime | None:
        text = form.get(name, "").strip()
        if not text:
            return None
        try:
            return parse_local_datetime(text)
        except FormValueError:
            problems.append(name)
            return None

    extension_text = form.get("extension_seconds", "").strip()
    extension: int | None = None
    if extension_text:
        if extension_text.isdigit():
            extension = int(extension_text)
        else:
            problems.append("extension_seconds")
    plan = PlanInput(
        kind=form.get("kind", "auction") if form.get("kind") in ("auction", "sale") else "auction",
        starting_price=amount("starting_price"),
        increment=amount("increment"),
        deposit=amount("deposit"),
        starts_at=moment("starts_at"),
        ends_at=moment("ends_at"),
        extension_seconds=extension,
    )
    return plan, problems


def _within(value: int | None, low: int, high: int) -> bool | None:
    return None if value is None else low <= value <= high


def schedule_report(
    profile: RuleProfile,
    valuation: int,
    prior: Sequence[PriorRound],
    approved_at: datetime,
    plan: PlanInput,
    now: datetime,
) -> ScheduleReport:
    try:
        upcoming = next_round(profile, valuation, prior, approved_at)
    except ScheduleRejected as exc:
        return ScheduleReport(None, [], exc.code, exc.detail)
    checks = [Check("kind", plan.kind == upcoming.kind, {"kind": upcoming.kind})]
    price = plan.starting_price
    if upcoming.sale_price is not None:
        checks.append(
            Check(
                "sale_price",
                None if price is None else price == upcoming.sale_price,
                {"price": upcoming.sale_price},
            )
        )
        checks.append(
            Check(
                "deposit_full", None if plan.deposit is None or price is None else plan.deposit == price, {}
            )
        )
    else:
        checks.append(
            Check("floor", None if price is None else price >= upcoming.floor, {"floor": upcoming.floor})
        )
        if price is not None:
            low, high = deposit_bounds(profile, price)
            checks.append(Check("deposit", _within(plan.deposit, low, high), {"low": low, "high": high}))
        else:
            checks.append(Check("deposit", None, {"low": None, "high": None}))
    checks.append(Check("increment", None if plan.increment is None else plan.increment > 0, {}))
    starts, ends = plan.starts_at, plan.ends_at
    checks.append(Check("order", None if starts is None or ends is None else ends > starts, {}))
    checks.append(Check("future", None if starts is None else starts >= now, {}))
    minimum = profile.sale_duration if plan.kind == "sale" else profile.min_duration
    checks.append(
        Check(
            "duration", None if starts is None or ends is None else ends - starts >= minimum, {"min": minimum}
        )
    )
    window_ok: bool | None = None
    if starts is not None:
        window_ok = starts >= upcoming.earliest_start and (
            upcoming.latest_start is None or starts <= upcoming.latest_start
        )
    checks.append(
        Check("window", window_ok, {"earliest": upcoming.earliest_start, "latest": upcoming.latest_start})
    )
    extension = (
        profile.default_extension_seconds if plan.extension_seconds is None else plan.extension_seconds
    )
    checks.append(
        Check("extension", extension >= profile.min_extension_seconds, {"min": profile.min_extension_seconds})
    )

    verdict: str | None = None
    detail = ""
    if (
        price is not None
        and plan.increment is not None
        and plan.deposit is not None
        and starts is not None
        and ends is not None
    ):
        complete = RoundPlan(
            kind="sale" if plan.kind == "sale" else "auction",
            starting_price=price,
            increment=plan.increment,
            deposit=plan.deposit,
            starts_at=starts,
            ends_at=ends,
            extension_seconds=plan.extension_seconds,
        )
        try:
            validate_round(profile, valuation, prior, complete, now, approved_at)
            verdict = "ok"
        except ScheduleRejected as exc:
            verdict, detail = exc.code, exc.detail
    return ScheduleReport(upcoming, checks, verdict, detail)
