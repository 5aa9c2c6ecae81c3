"""The statement a bank files, as CSV and PDF, with and without a CJK font."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from marketplace.settlement.statements import (
    SettlementOut,
    find_cjk_font,
    latin_form,
    money,
    statement_csv,
    statement_pdf,
    statement_rows,
)

SETTLEMENT = uuid.UUID("11111111-1111-4111-8111-111111111111")
TXN = uuid.UUID("22222222-2222-4222-8222-222222222222")


def sample_view(ok: bool = True) -> SettlementOut:
    line = {"advance": 0, "loss_share": 0, "payables_in": 0, "payables_out": 0}
    data: dict[str, Any] = {
        "currency": "CNY",
        "hammer": 70_000_000,
        "premium": 0,
        "commission": 0,
        "costs_total": 2_000_000,
        "net": 68_000_000,
        "claim": 100_000_000,
        "recovered": 68_000_000,
        "loss": 32_000_000,
        "surplus_to_pledgor": 0,
        "lines": [
            line | {"role": "bank", "ratio_bp": 2000, "receives": 13_600_000, "paid_out": 13_600_000,
                    "org_id": str(uuid.uuid4()), "org_name": "华夏示范银行 Demo Bank A"},
            line | {"role": "guarantor", "ratio_bp": 8000, "receives": 54_400_000, "paid_out": 54_400_000,
                    "org_id": str(uuid.uuid4()), "org_name": "示范融资担保公司"},
        ],
        "balanced": True,
        "forfeited_deposits": 0,
        "shortfall": 0,
        "buyer_pays": 70_000_000,
        "bank_receives": 13_600_000,
        "settlement_id": str(SETTLEMENT),
        "listing_id": str(uuid.uuid4()),
        "listing_title": "一种锂电池极片涂布装置 专利包 (synthetic)",
        "bank_name": "华夏示范银行 Demo Bank A",
        "pledgor_name": "张三 Zhang San",
        "kind": "disposal",
        "route": "auction",
        "settled_at": datetime(2026, 11, 22, tzinfo=UTC).isoformat(),
        "costs": [{"kind": "valuation_fee", "amount": 2_000_000}],
        "ledger_transaction_ids": [str(TXN)],
        "ledger_entries": [
            {"transaction_id": str(TXN), "ref": f"settlement:{SETTLEMENT}", "account": "escrow:CNY",
             "amount": 70_000_000, "currency": "CNY"},
            {"transaction_id": str(TXN), "ref": f"settlement:{SETTLEMENT}", "account": "exchange:revenue:CNY",
             "amount": -70_000_000, "currency": "CNY"},
        ],
        "payouts": [
            {"id": str(uuid.uuid4()), "settlement_id": str(SETTLEMENT), "role": "bank", "org_id": None,
             "payee_ref": "org:bank", "amount": 13_600_000, "currency": "CNY", "method": "offline",
             "state": "sent", "provider_ref": "PAY-ABCDEFGHIJ", "provider_status": "instructed",
             "idempotency_key": f"payout:{SETTLEMENT}:bank", "transfer_group": f"settlement:{SETTLEMENT}",
             "instructions": {}, "sent_at": None, "ledger_transaction_id": None},
        ],
        "payables": [
            {"settlement_id": str(SETTLEMENT), "debtor_role": "guarantor", "debtor_org_id": None,
             "creditor_role": "bank", "creditor_org_id": None, "amount": 1_000, "currency": "CNY",
             "status": "open"},
        ],
        "reconciliation": {"ok": ok, "checks": [
            {"name": "proceeds = exchange + costs + parties + pledgor", "expected": 1,
             "actual": 1 if ok else 2, "ok": ok},
        ]},
        "settlements": [],
    }  # fmt: skip
    return msgspec.convert(data, SettlementOut)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        pytest.param(0, "CNY", "0.00", id="zero"),
        pytest.param(1, "CNY", "0.01", id="one fen"),
        pytest.param(-6_400_000, "CNY", "-64,000.00", id="negative: owed"),
        pytest.param(100_000_000_000, "CNY", "1,000,000,000.00", id="a billion yuan"),
        pytest.param(1234, "JPY", "1,234", id="yen have no minor unit"),
    ],
)
def test_money_is_shown_exactly_in_major_units(amount: int, currency: str, shown: str) -> None:
    assert money(amount, currency) == shown


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        pytest.param("华夏示范银行 Demo Bank A", "Demo Bank A", id="bilingual organisation"),
        pytest.param("张三 Zhang San", "Zhang San", id="bilingual person"),
        pytest.param("示范科技有限公司", "(name in Chinese only: see the CSV statement)", id="Chinese only"),
        pytest.param("Ünïcode — dash", "Ünïcode ? dash", id="outside latin-1"),
        pytest.param("", "", id="empty stays empty"),
    ],
)
def test_without_a_cjk_font_names_fall_back_to_their_english_form(name: str, shown: str) -> None:
    assert latin_form(name) == shown


def test_the_csv_carries_every_line_fee_payout_payable_and_ledger_transaction() -> None:
    view = sample_view()
    content = statement_csv(view)
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == statement_rows(view)
    sections = {row[0] for row in rows[1:]}
    assert sections >= {"listing", "statement", "cost", "line", "payout", "payable", "ledger_transaction",
                        "ledger_entry", "reconciliation"}  # fmt: skip
    assert ["cost", "valuation_fee", "", "2000000", "CNY", "20,000.00"] in rows
    assert any(row[:4] == ["line", "receives", "guarantor", "54400000"] for row in rows)
    assert ["ledger_transaction", str(TXN), "", "", "", ""] in rows
    assert "华夏示范银行 Demo Bank A" in content.decode("utf-8-sig")
    assert rows[-1][-1] == "OK to the fen"


def test_a_reconciliation_mismatch_is_stated_not_hidden() -> None:
    rows = statement_rows(sample_view(ok=False))
    assert rows[-1][-1] == "MISMATCH"


def test_the_pdf_falls_back_to_a_core_font_without_a_cjk_font() -> None:
    content = statement_pdf(sample_view(), font=None)
    assert content.startswith(b"%PDF-")
    assert b"/Helvetica" in content


def test_an_unreadable_font_file_falls_back_instead_of_failing(tmp_path: Any) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    content = statement_pdf(sample_view(), font=broken)
    assert content.startswith(b"%PDF-")
    assert b"/Helvetica" in content


def test_the_pdf_embeds_a_cjk_font_when_the_system_has_one() -> None:
    font = find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (Debian: fonts-wqy-zenhei or fonts-noto-cjk)")
    content = statement_pdf(sample_view(), font=font)
    assert content.startswith(b"%PDF-")
    assert b"/Helvetica" not in content
    assert b"/FontFile2" in content
