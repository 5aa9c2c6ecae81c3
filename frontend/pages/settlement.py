"""The settlement statement page, shared by the bank desk and the operator console.

Invariant: the waterfall is drawn from the statement's own figures and must balance step by
step (:func:`frontend.charts.waterfall` refuses a total that is not the running total), so the
chart cannot show books the statement does not keep.
"""

from __future__ import annotations

from litestar.response import Template

from frontend.charts import HEIGHT, WIDTH, Step, waterfall
from frontend.pages.base import Page, render
from frontend.pages.data import FoundStatement
from marketplace.settlement import Statement
from marketplace.settlement.statements import SettlementOut

DESKS = {
    "bank": ("bank.title", "bank/_tabs.html", "settlements"),
    "operator": ("op.title", "operator/_tabs.html", "queue"),
}


def statement_steps(page: Page, statement: Statement | SettlementOut) -> list[Step]:
    """The waterfall of a statement: proceeds down to the net, the recovery, and who receives it."""
    steps = [Step(page.t("settle.hammer"), statement.hammer, "up")]
    if statement.forfeited_deposits:
        steps.append(Step(page.t("settle.forfeited"), statement.forfeited_deposits, "up"))
    if statement.commission:
        steps.append(Step(page.t("settle.commission"), statement.commission, "down"))
    if statement.costs_total:
        steps.append(Step(page.t("settle.costs"), statement.costs_total, "down"))
    if statement.shortfall:
        steps.append(Step(page.t("settle.shortfall"), statement.shortfall, "up"))
    steps.append(Step(page.t("settle.net"), statement.net, "total"))
    if statement.surplus_to_pledgor:
        steps.append(Step(page.t("settle.surplus"), statement.surplus_to_pledgor, "down"))
    steps.append(Step(page.t("settle.recovered"), statement.recovered, "total"))
    receives = [(line.role, line.receives) for line in statement.lines]
    receives.sort(key=lambda pair: pair[0] == "bank")
    for role, amount in receives:
        if amount > 0:
            steps.append(Step(page.t("role." + role), amount, "down"))
        elif amount < 0:
            steps.append(Step(page.t("role." + role), -amount, "up"))
    return steps


def statement_page(page: Page, found: FoundStatement, *, desk: str) -> Template:
    title, tabs, tab = DESKS[desk]
    return render(
        page,
        "settlement/statement.html",
        tab=tab,
        desk_title=title,
        tabs_template=tabs,
        found=found,
        listing_id=found.listing.id,
        chart=waterfall(statement_steps(page, found.statement)),
        chart_size=(WIDTH, HEIGHT),
    )
