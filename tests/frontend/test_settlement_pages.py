"""After the hammer: the bank previews its statement, the operator settles, both read the posted one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frontend.conftest import LiveApp, screenshot, sign_in
from tests.frontend.flows import confirm_transfer, sold_lot

pytestmark = pytest.mark.browser


def test_a_sold_lot_is_settled_and_its_statement_reconciles(new_page: Any, live_app: LiveApp) -> None:
    buyer = new_page()
    sign_in(buyer, "buyer3@buyer.demo")
    listing_id, _ = sold_lot(live_app, buyer)

    bank = new_page()
    sign_in(bank, "bank-a@bank.demo")
    bank.goto("/bank/settlements")
    bank.get_by_role("link", name="铝合金表面微弧氧化处理工艺发明专利").click()
    bank.wait_for_url(f"**/bank/settlements/{listing_id}")
    assert bank.get_by_text("预览").first.is_visible()
    waterfall = bank.locator("svg.waterfall")
    assert waterfall.locator("rect").count() >= 5
    assert "¥840,000.00" in (waterfall.text_content() or "")
    screenshot(bank, "bank-statement-preview")

    confirm_transfer(live_app, listing_id, "王五 Wang Wu")
    operator = new_page()
    sign_in(operator, "operator@exchange.demo")
    operator.goto(f"/operator/listings/{listing_id}")
    operator.get_by_role("button", name="清算并过账（登记转让已确认）").click()
    operator.locator("#settle-errors [data-code=not_ready]").wait_for()
    assert "balance_paid" in operator.locator("#settle-errors").inner_text()
    operator.get_by_role("button", name="登记余款已付").click()
    operator.wait_for_load_state()
    operator.get_by_role("button", name="清算并过账（登记转让已确认）").click()
    operator.wait_for_url(f"**/operator/settlements/{listing_id}")
    assert operator.get_by_text("已过账的正式结算单").is_visible()
    assert operator.get_by_text("账目平衡，精确到分").is_visible()
    screenshot(operator, "operator-statement-posted")
    operator.goto("/operator/stats")
    assert operator.locator("#stat-sold").inner_text() == "1"
    assert operator.locator("#stat-recovery").inner_text() == "83.55 %"
    screenshot(operator, "operator-stats-after-sale")

    bank.goto(f"/bank/settlements/{listing_id}")
    assert bank.get_by_text("已过账的正式结算单").is_visible()
    pdf = bank.get_by_role("link", name="下载 PDF")
    assert pdf.get_attribute("href") == f"/api/listings/{listing_id}/settlement.pdf"
    with bank.expect_download() as download:
        bank.get_by_role("link", name="下载 CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    screenshot(bank, "bank-statement-posted")
