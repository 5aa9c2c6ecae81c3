"""The settlement statement a bank's finance team files: JSON (api.md), CSV and PDF.

Invariants:
- one view (:func:`statement_view`) feeds the three formats, so they always agree: every line,
  every fee, every payout and payable, the ledger transactions and their entries;
- the reconciliation recomputes, to the fen, that the proceeds equal what went to the exchange,
  to costs, to the parties and to the pledgor; that each party's ``receives`` equals its payouts
  plus the payables owed to it less those it owes; and that the ledger's entries for this listing
  say the same and balance. ``ok`` is true only when every check holds;
- the statement is shown to the owning bank, the settlement parties' users and operators; for
  everyone else it does not exist (404);
- the PDF renders Chinese with a CJK TrueType font found on the system (:func:`find_cjk_font`);
  without one it falls back to the English form of every name (CJK characters are left out, and
  a name with no English part says so), so rendering never fails.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Org
from marketplace.accounts.security import Principal
from marketplace.deps import require
from marketplace.errors import NotFound
from marketplace.ledger.service import (
    PostedEntry,
    costs_account,
    entries_of,
    party_account,
    pledgor_account,
    revenue_account,
)
from marketplace.listings.models import Listing
from marketplace.listings.service import get_listing, visible_confidential
from marketplace.settlement.calculator import Statement
from marketplace.settlement.models import Settlement, SettlementPayable, SettlementPayout
from marketplace.settlement.service import (
    PLEDGOR,
    org_ids_of,
    settlements_of,
    source_account,
    totals_of,
)

MINOR_DIGITS: Final = {"JPY": 0}
ROLE_LABELS: Final = {
    "bank": "质权银行 Bank",
    "guarantor": "担保机构 Guarantor",
    "risk_pool": "风险补偿资金池 Risk-compensation pool",
    "valuer": "评估机构 Valuer",
    "insurer": "保险机构 Insurer",
    "pledgor": "出质人 Pledgor",
}
CJK_FONT_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",
)
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u3000-\u303f]+")


class LineOut(msgspec.Struct, kw_only=True):
    role: str
    ratio_bp: int
    advance: int
    loss_share: int
    receives: int
    org_id: uuid.UUID | None
    org_name: str
    paid_out: int
    payables_in: int
    payables_out: int


class CostOut(msgspec.Struct, kw_only=True):
    kind: str
    amount: int


class PayoutOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    settlement_id: uuid.UUID
    role: str
    org_id: uuid.UUID | None
    payee_ref: str
    amount: int
    currency: str
    method: str
    state: str
    provider_ref: str | None
    provider_status: str | None
    idempotency_key: str
    transfer_group: str
    instructions: dict[str, Any]
    sent_at: datetime | None
    ledger_transaction_id: uuid.UUID | None


class PayableOut(msgspec.Struct, kw_only=True):
    settlement_id: uuid.UUID
    debtor_role: str
    debtor_org_id: uuid.UUID | None
    creditor_role: str
    creditor_org_id: uuid.UUID | None
    amount: int
    currency: str
    status: str


class EntryOut(msgspec.Struct, kw_only=True):
    transaction_id: uuid.UUID
    ref: str
    account: str
    amount: int
    currency: str


class CheckOut(msgspec.Struct, kw_only=True):
    name: str
    expected: int
    actual: int
    ok: bool


class ReconciliationOut(msgspec.Struct, kw_only=True):
    ok: bool
    checks: list[CheckOut]


class SettlementSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    sequence: int
    route: str
    income: int
    settled_at: datetime
    ledger_transaction_id: uuid.UUID | None


class SettlementOut(msgspec.Struct, kw_only=True):
    """The statement of api.md (``currency`` … ``balanced``) as it stands after the latest
    settlement of the listing, with the calculator's extra figures, who the parties are, the
    payouts and payables, the ledger transactions and the reconciliation."""

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
    lines: list[LineOut]
    balanced: bool
    forfeited_deposits: int
    shortfall: int
    buyer_pays: int
    bank_receives: int
    settlement_id: uuid.UUID
    listing_id: uuid.UUID
    listing_title: str
    bank_name: str
    pledgor_name: str
    kind: str
    route: str
    settled_at: datetime
    costs: list[CostOut]
    ledger_transaction_ids: list[uuid.UUID]
    ledger_entries: list[EntryOut]
    payouts: list[PayoutOut]
    payables: list[PayableOut]
    reconciliation: ReconciliationOut
    settlements: list[SettlementSummary]


def payout_out(payout: SettlementPayout) -> PayoutOut:
    return PayoutOut(
        id=payout.id,
        settlement_id=payout.settlement_id,
        role=payout.role,
        org_id=payout.org_id,
        payee_ref=payout.payee_ref,
        amount=payout.amount,
        currency=payout.currency,
        method=payout.method,
        state=payout.state,
        provider_ref=payout.provider_ref,
        provider_status=payout.provider_status,
        idempotency_key=payout.idempotency_key,
        transfer_group=payout.transfer_group,
        instructions=dict(payout.instructions or {}),
        sent_at=payout.sent_at,
        ledger_transaction_id=payout.ledger_transaction_id,
    )


def payable_out(payable: SettlementPayable) -> PayableOut:
    return PayableOut(
        settlement_id=payable.settlement_id,
        debtor_role=payable.debtor_role,
        debtor_org_id=payable.debtor_org_id,
        creditor_role=payable.creditor_role,
        creditor_org_id=payable.creditor_org_id,
        amount=payable.amount,
        currency=payable.currency,
        status=payable.status,
    )


def _check(name: str, expected: int, actual: int) -> CheckOut:
    return CheckOut(name=name, expected=expected, actual=actual, ok=expected == actual)


def reconcile(
    statement: Statement,
    *,
    listing_id: uuid.UUID,
    sources: set[str],
    org_of: dict[str, uuid.UUID],
    payouts: Sequence[SettlementPayout],
    payables: Sequence[SettlementPayable],
    entries: Sequence[PostedEntry],
    settlement_refs: set[str],
) -> ReconciliationOut:
    """Every check a finance team would tick, each to the fen (see the module docstring)."""
    currency = statement.currency
    totals = totals_of(statement)
    checks = [
        _check("recovered + loss = claim", statement.claim, statement.recovered + statement.loss),
        _check(
            "parties' receives = recovered",
            statement.recovered,
            sum(line.receives for line in statement.lines),
        ),
        _check(
            "proceeds = exchange + costs + parties + pledgor",
            totals.gross_in,
            totals.revenue + totals.costs_paid + statement.recovered + statement.surplus_to_pledgor,
        ),
    ]
    for line in statement.lines:
        ordered = sum(p.amount for p in payouts if p.role == line.role)
        owed_to = sum(p.amount for p in payables if p.creditor_role == line.role)
        owes = sum(p.amount for p in payables if p.debtor_role == line.role)
        checks.append(
            _check(
                f"{line.role}: receives = payouts + payables owed to it - payables it owes",
                line.receives,
                ordered + owed_to - owes,
            )
        )
    checks.append(
        _check(
            "pledgor: surplus = payouts",
            statement.surplus_to_pledgor,
            sum(p.amount for p in payouts if p.role == PLEDGOR),
        )
    )
    by_txn: dict[uuid.UUID, int] = {}
    posted: dict[str, int] = {}
    for entry in entries:
        by_txn[entry.transaction_id] = by_txn.get(entry.transaction_id, 0) + entry.amount
        if entry.ref in settlement_refs:
            posted[entry.account] = posted.get(entry.account, 0) + entry.amount
    checks.append(
        _check(
            "ledger: largest imbalance of a transaction", 0, max((abs(t) for t in by_txn.values()), default=0)
        )
    )
    checks.append(
        _check(
            "ledger: proceeds into escrow", totals.gross_in, sum(posted.get(source, 0) for source in sources)
        )
    )
    checks.append(
        _check("ledger: exchange revenue", -totals.revenue, posted.get(revenue_account(currency), 0))
    )
    checks.append(
        _check(
            "ledger: disposal costs", -totals.costs_paid, posted.get(costs_account(listing_id, currency), 0)
        )
    )
    checks.append(
        _check(
            "ledger: pledgor surplus",
            -statement.surplus_to_pledgor,
            posted.get(pledgor_account(listing_id, currency), 0),
        )
    )
    for line in statement.lines:
        account = party_account(org_of[line.role], currency)
        checks.append(
            _check(f"ledger: {line.role} credited with receives", -line.receives, posted.get(account, 0))
        )
    sent = sum(p.amount for p in payouts if p.state in ("sent", "in_kind"))
    left_in_source = sum(entry.amount for entry in entries if entry.account in sources)
    checks.append(
        _check(
            "ledger: escrow keeps revenue, costs and unsent payouts", totals.gross_in - sent, left_in_source
        )
    )
    return ReconciliationOut(ok=all(check.ok for check in checks), checks=checks)


async def _org_names(session: AsyncSession, org_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(org_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(Org.id, Org.name).where(Org.id.in_(wanted)))
    return dict(rows.all())


async def statement_view(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID
) -> SettlementOut:
    """The listing's statement for the bank, the parties and operators; 404 for anyone else."""
    caller = require(principal)
    listing = await get_listing(session, listing_id, caller)
    if not visible_confidential(caller, listing):
        raise NotFound("not_found", "no such settlement")
    settlements = await settlements_of(session, listing.id)
    if not settlements:
        raise NotFound("not_settled", "the listing has not been settled")
    return await build_view(session, listing, settlements)


async def build_view(
    session: AsyncSession, listing: Listing, settlements: Sequence[Settlement]
) -> SettlementOut:
    latest = settlements[-1]
    statement = msgspec.convert(latest.statement, Statement)
    ids = [s.id for s in settlements]
    payouts = list(
        (
            await session.scalars(
                select(SettlementPayout)
                .where(SettlementPayout.settlement_id.in_(ids))
                .order_by(SettlementPayout.created_at, SettlementPayout.role)
            )
        ).all()
    )
    payables = list(
        (
            await session.scalars(
                select(SettlementPayable)
                .where(SettlementPayable.settlement_id.in_(ids))
                .order_by(SettlementPayable.created_at, SettlementPayable.debtor_role)
            )
        ).all()
    )
    transaction_ids = [s.ledger_transaction_id for s in settlements if s.ledger_transaction_id] + [
        p.ledger_transaction_id for p in payouts if p.ledger_transaction_id
    ]
    entries = await entries_of(session, transaction_ids)
    org_of = org_ids_of(listing.settlement_terms)
    names = await _org_names(session, [*org_of.values(), listing.bank_org_id])
    reconciliation = reconcile(
        statement,
        listing_id=listing.id,
        sources={source_account(s.route, listing.id, listing.currency) for s in settlements},
        org_of=org_of,
        payouts=payouts,
        payables=payables,
        entries=entries,
        settlement_refs={f"settlement:{s.id}" for s in settlements},
    )
    lines = [
        LineOut(
            role=line.role,
            ratio_bp=line.ratio_bp,
            advance=line.advance,
            loss_share=line.loss_share,
            receives=line.receives,
            org_id=org_of.get(line.role),
            org_name=names.get(org_of[line.role], "") if line.role in org_of else "",
            paid_out=sum(p.amount for p in payouts if p.role == line.role and p.state in ("sent", "in_kind")),
            payables_in=sum(p.amount for p in payables if p.creditor_role == line.role),
            payables_out=sum(p.amount for p in payables if p.debtor_role == line.role),
        )
        for line in statement.lines
    ]
    disposal = next((s for s in settlements if s.kind == "disposal"), latest)
    return SettlementOut(
        **{name: getattr(statement, name) for name in Statement.__struct_fields__ if name != "lines"},
        lines=lines,
        settlement_id=latest.id,
        listing_id=listing.id,
        listing_title=listing.title,
        bank_name=names.get(listing.bank_org_id, ""),
        pledgor_name=listing.pledgor_name,
        kind=latest.kind,
        route=disposal.route,
        settled_at=latest.settled_at,
        costs=[CostOut(kind=str(c["kind"]), amount=int(c["amount"])) for c in latest.case.get("costs") or ()],
        ledger_transaction_ids=transaction_ids,
        ledger_entries=[
            EntryOut(
                transaction_id=e.transaction_id,
                ref=e.ref,
                account=e.account,
                amount=e.amount,
                currency=e.currency,
            )
            for e in entries
        ],
        payouts=[payout_out(p) for p in payouts],
        payables=[payable_out(p) for p in payables],
        reconciliation=reconciliation,
        settlements=[
            SettlementSummary(
                id=s.id,
                kind=s.kind,
                sequence=s.sequence,
                route=s.route,
                income=s.income,
                settled_at=s.settled_at,
                ledger_transaction_id=s.ledger_transaction_id,
            )
            for s in settlements
        ],
    )


# --- formats ---------------------------------------------------------------------------------


def money(amount: int, currency: str) -> str:
    """``-1,234.56`` in the currency's major unit, exactly (no float)."""
    digits = MINOR_DIGITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    return f"{sign}{whole:,}" + (f".{part:0{digits}d}" if digits else "")


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


def latin_form(text: str) -> str:
    """The English part of a bilingual name, for fonts without CJK glyphs (latin-1 only)."""
    kept = " ".join(_CJK.sub(" ", text).split())
    kept = kept.encode("latin-1", "replace").decode("latin-1")
    if not kept and text.strip():
        return "(name in Chinese only: see the CSV statement)"
    return kept


def statement_rows(view: SettlementOut) -> list[list[str]]:
    """The statement as rows ``[section, item, role, amount, currency, detail]`` (CSV and PDF)."""
    cur = view.currency
    rows: list[list[str]] = [["section", "item", "role", "amount", "currency", "detail"]]
    info = [
        ("listing", str(view.listing_id), view.listing_title),
        ("bank", view.bank_name, ""),
        ("pledgor", view.pledgor_name, ""),
        ("route", view.route, ""),
        ("settlement", str(view.settlement_id), f"{view.kind}, settled {view.settled_at.isoformat()}"),
    ]
    rows.extend(["listing", item, "", "", "", f"{value} {detail}".strip()] for item, value, detail in info)
    figures = [
        ("hammer", view.hammer),
        ("forfeited_deposits", view.forfeited_deposits),
        ("premium (buyer pays, exchange revenue)", view.premium),
        ("buyer_pays", view.buyer_pays),
        ("commission", view.commission),
        ("costs_total", view.costs_total),
        ("net", view.net),
        ("claim", view.claim),
        ("recovered", view.recovered),
        ("loss", view.loss),
        ("surplus_to_pledgor", view.surplus_to_pledgor),
        ("shortfall (still owed)", view.shortfall),
    ]
    rows.extend(["statement", name, "", str(amount), cur, money(amount, cur)] for name, amount in figures)
    rows.extend(
        ["cost", cost.kind, "", str(cost.amount), cur, money(cost.amount, cur)] for cost in view.costs
    )
    for line in view.lines:
        detail = (
            f"{line.org_name}; ratio {line.ratio_bp} bp; advance {money(line.advance, cur)}; "
            f"loss share {money(line.loss_share, cur)}; paid out {money(line.paid_out, cur)}; "
            f"payables in {money(line.payables_in, cur)}, out {money(line.payables_out, cur)}"
        )
        rows.append(["line", "receives", line.role, str(line.receives), cur, detail])
    for payout in view.payouts:
        detail = (
            f"{payout.state}; {payout.method} {payout.provider_ref or ''}; key {payout.idempotency_key}; "
            f"ledger {payout.ledger_transaction_id or '-'}"
        )
        rows.append(["payout", payout.payee_ref, payout.role, str(payout.amount), payout.currency, detail])
    for payable in view.payables:
        rows.append(
            [
                "payable",
                f"{payable.debtor_role} owes {payable.creditor_role}",
                payable.debtor_role,
                str(payable.amount),
                payable.currency,
                payable.status,
            ]
        )
    for transaction_id in view.ledger_transaction_ids:
        rows.append(["ledger_transaction", str(transaction_id), "", "", "", ""])
    for entry in view.ledger_entries:
        rows.append(
            [
                "ledger_entry",
                entry.account,
                "",
                str(entry.amount),
                entry.currency,
                f"{entry.ref} {entry.transaction_id}",
            ]
        )
    for check in view.reconciliation.checks:
        rows.append(
            [
                "reconciliation",
                check.name,
                "",
                str(check.actual),
                cur,
                f"expected {check.expected}: {'OK' if check.ok else 'MISMATCH'}",
            ]
        )
    rows.append(
        ["reconciliation", "result", "", "", cur, "OK to the fen" if view.reconciliation.ok else "MISMATCH"]
    )
    return rows


def statement_csv(view: SettlementOut) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese names right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(statement_rows(view))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@functools.lru_cache(maxsize=8)
def has_cjk_glyphs(font: Path) -> bool:
    """Whether ``font`` is a TrueType font (or collection) that maps the Chinese characters used."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    try:
        data = font.read_bytes()
        parsed = TTFont(io.BytesIO(data), fontNumber=0, lazy=True)
        cmap = parsed.getBestCmap() or {}
        is_truetype = "glyf" in parsed
    except Exception:  # anything fontTools cannot read is no font for us
        return False
    return is_truetype and all(ord(char) in cmap for char in "清算银行出质人")


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> Path | None:
    """A TrueType font with Chinese glyphs: known Debian paths first, then ``fc-list :lang=zh``."""
    candidates = [Path(path) for path in CJK_FONT_CANDIDATES]
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            listed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        candidates.extend(Path(line.split(":", 1)[0].strip()) for line in listed.splitlines() if line.strip())
    for path in candidates:
        if path.suffix.lower() in (".ttf", ".ttc") and path.is_file() and has_cjk_glyphs(path):
            return path
    return None


def statement_pdf(view: SettlementOut, font: Path | None = None) -> bytes:
    """The statement as a PDF; Chinese is rendered with ``font`` (a CJK TTF/TTC) when given."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    cjk = font is not None and has_cjk_glyphs(font)
    if font is not None and cjk:
        pdf.add_font("statement", "", str(font))
    family = "statement" if cjk else "helvetica"

    def text(value: str) -> str:
        return value if cjk else latin_form(value)

    pdf.set_title(f"Settlement statement {view.settlement_id}")
    pdf.add_page()
    pdf.set_font(family, size=14)
    pdf.cell(0, 8, text("清算报告 Settlement statement"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, size=9)
    for label, value in (
        ("Listing", f"{text(view.listing_title)} ({view.listing_id})"),
        ("Bank", text(view.bank_name)),
        ("Pledgor", text(view.pledgor_name)),
        ("Route", view.route),
        ("Settlement", f"{view.settlement_id} ({view.kind}), {view.settled_at.isoformat()}"),
        ("Currency", f"{view.currency}, amounts in major units"),
    ):
        pdf.multi_cell(0, 5, f"{label}: {value}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    cur = view.currency

    def table(
        title: str, header: Sequence[str], body: Sequence[Sequence[str]], widths: Sequence[int]
    ) -> None:
        pdf.ln(2)
        pdf.set_font(family, size=11)
        pdf.cell(0, 7, text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(family, size=7.5)
        with pdf.table(
            col_widths=tuple(widths),
            text_align="LEFT",
            line_height=4.2,
            headings_style=FontFace(emphasis=None, fill_color=(232, 232, 232)),
        ) as grid:
            for row in (header, *body):
                cells = grid.row()
                for value in row:
                    cells.cell(text(value))

    table(
        "结算数据 Figures",
        ("item", "amount"),
        [
            (name, money(amount, cur))
            for name, amount in (
                ("hammer", view.hammer),
                ("forfeited deposits", view.forfeited_deposits),
                ("buyer premium (exchange revenue)", view.premium),
                ("buyer pays", view.buyer_pays),
                ("commission", view.commission),
                ("disposal costs", view.costs_total),
                ("net proceeds", view.net),
                ("secured claim", view.claim),
                ("recovered", view.recovered),
                ("loss", view.loss),
                ("surplus to the pledgor", view.surplus_to_pledgor),
                ("shortfall (still owed)", view.shortfall),
            )
        ]
        + [(f"cost: {cost.kind}", money(cost.amount, cur)) for cost in view.costs],
        (120, 60),
    )
    table(
        "分配 Lines",
        ("party", "ratio bp", "advance", "loss share", "receives", "paid out", "payables in/out"),
        [
            (
                f"{role_label(line.role)} {line.org_name}",
                str(line.ratio_bp),
                money(line.advance, cur),
                money(line.loss_share, cur),
                money(line.receives, cur),
                money(line.paid_out, cur),
                f"{money(line.payables_in, cur)} / {money(line.payables_out, cur)}",
            )
            for line in view.lines
        ],
        (52, 14, 24, 24, 24, 24, 28),
    )
    table(
        "付款 Payouts",
        ("payee", "amount", "state", "reference", "idempotency key"),
        [
            (
                f"{role_label(p.role)} {p.payee_ref}",
                money(p.amount, p.currency),
                p.state,
                p.provider_ref or "",
                p.idempotency_key,
            )
            for p in view.payouts
        ]
        or [("(none)", "", "", "", "")],
        (46, 26, 16, 30, 72),
    )
    table(
        "应付 Payables",
        ("debtor", "creditor", "amount"),
        [
            (role_label(p.debtor_role), role_label(p.creditor_role), money(p.amount, p.currency))
            for p in view.payables
        ]
        or [("(none)", "", "")],
        (70, 70, 50),
    )
    table(
        "总账 Ledger entries",
        ("transaction", "ref", "account", "amount"),
        [(str(e.transaction_id), e.ref, e.account, money(e.amount, e.currency)) for e in view.ledger_entries],
        (52, 48, 64, 26),
    )
    table(
        "对账 Reconciliation",
        ("check", "expected", "actual", "result"),
        [
            (c.name, money(c.expected, cur), money(c.actual, cur), "OK" if c.ok else "MISMATCH")
            for c in view.reconciliation.checks
        ]
        + [("all checks, to the fen", "", "", "OK" if view.reconciliation.ok else "MISMATCH")],
        (100, 32, 32, 26),
    )
    return bytes(pdf.output())
