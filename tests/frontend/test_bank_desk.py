"""A bank lists defaulted pledged IP through the wizard, submits it, and reads its desk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.frontend.conftest import LiveApp, screenshot, sign_in

pytestmark = pytest.mark.browser

BANK_A_NAME = "华夏示范银行 Demo Bank A"
TODAY = datetime.now(UTC).date()
OPERATOR = "operator@exchange.demo"


def sandbox_patent(live_app: LiveApp, number: str, pledge_no: str, kind: str = "invention_patent") -> None:
    today = TODAY
    response = live_app.api(
        "POST",
        "/api/registry/sandbox/records",
        OPERATOR,
        json={
            "registry": "cnipa",
            "number": number,
            "kind": kind,
            "title": f"测试专利 {number}",
            "holder": "示范测试科技有限公司",
            "status": "in_force",
            "filed_on": (today - timedelta(days=800)).isoformat(),
            "expires_on": (today + timedelta(days=3000)).isoformat(),
            "fees_paid_until": (today + timedelta(days=400)).isoformat(),
            "pledges": [{"pledgee": BANK_A_NAME, "registration_no": pledge_no, "status": "registered"}],
        },
    )
    assert response.status_code in (200, 201), response.text


def test_a_bank_creates_a_listing_through_the_wizard_and_submits_it(new_page: Any, live_app: LiveApp) -> None:
    sandbox_patent(live_app, "CN202310000001.1", "Y2026TEST0001")
    sandbox_patent(live_app, "CN202320000002.2", "Y2026TEST0001", kind="utility_model")
    page = new_page()
    sign_in(page, "bank-a@bank.demo")
    page.goto("/bank/listings/new")

    page.get_by_label("拍品标题").fill("测试专利组合（向导创建）")
    page.get_by_label("贷款编号").fill("WIZ-001")
    page.get_by_label("出质人名称").fill("示范测试科技有限公司")
    page.get_by_label("债权金额（元）").fill("1,000,000.00")
    page.get_by_label("违约日期").fill((TODAY - timedelta(days=60)).isoformat())
    page.get_by_label("质押登记号").fill("Y2026TEST0001")
    screenshot(page, "bank-wizard-1")
    page.get_by_role("button", name="下一步").click()

    page.get_by_label("登记号 / 申请号").fill("CN202310000001.1")
    page.get_by_label("资产名称").fill("一种测试方法")
    page.get_by_role("button", name="添加资产").click()
    assert page.locator("[data-asset-row]").count() == 2
    page.locator("#w-asset-kind-2").select_option("utility_model")
    page.locator("#w-asset-number-2").fill("CN202320000002.2")
    page.locator("#w-asset-title-2").fill("一种测试装置")
    page.get_by_label("银行声明：未知悉任何许可或诉讼。").check()
    page.get_by_role("button", name="下一步").click()

    page.get_by_label("评估价值（元）").fill("1200000")
    valuer = page.get_by_label("评估机构", exact=True)
    valuer.locator("option", has_text="Demo Valuers").wait_for(state="attached")
    valuer.select_option(label="示范资产评估有限公司 Demo Valuers Ltd.")
    page.get_by_role("button", name="下一步").click()

    ratio_sum = page.locator("#ratio-sum")
    page.get_by_label("分担比例（%） (银行)").fill("20")
    assert ratio_sum.get_attribute("data-ok") == "false"
    page.get_by_label("参与方 (担保机构)").select_option(label="示范融资担保公司 Demo Guarantee Co.")
    page.get_by_label("分担比例（%） (担保机构)").fill("40")
    page.get_by_label("已代偿 / 前置补偿（元） (担保机构)").fill("400000")
    page.get_by_label("参与方 (风险补偿资金池)").select_option(
        label="示范知识产权质押风险补偿资金池 Demo Risk Pool"
    )
    page.get_by_label("分担比例（%） (风险补偿资金池)").fill("33.33")
    assert ratio_sum.get_attribute("data-ok") == "false"
    assert "93.33 %" in ratio_sum.inner_text()
    page.get_by_label("分担比例（%） (风险补偿资金池)").fill("40")
    assert ratio_sum.get_attribute("data-ok") == "true"
    page.get_by_label("评估费").fill("3000")
    screenshot(page, "bank-wizard-ratios")
    page.get_by_role("button", name="下一步").click()

    preview = page.locator("#wizard-preview .preview")
    preview.wait_for()
    assert "CN202320000002.2" in preview.inner_text()
    assert "¥1,000,000.00" in preview.inner_text()
    screenshot(page, "bank-wizard-review")
    page.get_by_role("button", name="创建挂牌草稿").click()
    page.wait_for_url("**/bank/listings/*?created=1")
    assert page.get_by_text("挂牌草稿已创建").is_visible()

    page.get_by_role("button", name="提交审核（运行登记核验）").click()
    page.locator(".badge-submitted").wait_for()
    assert page.locator("table.checks .ok-mark").count() > 0
    assert page.locator("table.checks .fail-mark").count() == 0
    screenshot(page, "bank-listing-submitted")

    page.goto("/bank")
    assert page.get_by_role("link", name="测试专利组合（向导创建）").is_visible()
    screenshot(page, "bank-desk")


@pytest.mark.parametrize(
    ("label", "value", "code"),
    [
        pytest.param("债权金额（元）", "12.345", "bad_amount", id="three-decimals"),
        pytest.param("违约日期", "2999-01-01", "default_in_future", id="default-in-future"),
        pytest.param("登记号 / 申请号", "", "required", id="no-asset"),
        pytest.param("分担比例（%） (银行)", "90", "ratios_not_10000", id="ratios-off"),
    ],
)
def test_the_wizard_shows_the_apis_refusals(new_page: Any, label: str, value: str, code: str) -> None:
    page = new_page()
    sign_in(page, "bank-a@bank.demo")
    page.goto("/bank/listings/new")
    steps = [
        {
            "拍品标题": "拒绝测试",
            "贷款编号": "WIZ-ERR",
            "出质人名称": "示范",
            "债权金额（元）": "100",
            "违约日期": (TODAY - timedelta(days=1)).isoformat(),
            "质押登记号": "Y1",
        },
        {"登记号 / 申请号": "CN1", "资产名称": "资产"},
        {"评估价值（元）": "100", "评估方式": "internal"},
        {},
    ]
    for fields in steps:
        for name, text in fields.items():
            field = page.get_by_label(name, exact=True)
            if name == "评估方式":
                field.select_option(text)
            else:
                field.fill(value if name == label else text)
        if label.startswith("分担比例") and not fields:
            page.get_by_label(label).fill(value)
        page.get_by_role("button", name="下一步").click()
    page.get_by_role("button", name="创建挂牌草稿").click()
    error = page.locator(f"#wizard-errors [data-code={code}]")
    error.wait_for()
    assert error.get_attribute("role") == "alert"


def test_a_csv_import_reports_every_row(new_page: Any) -> None:
    header = (
        "title,loan_ref,pledgor_name,claim,default_date,pledge_registry,pledge_registration_no,"
        "valuation_amount,valuation_method,bank_ratio_bp,asset1_kind,asset1_number,asset1_title,none_known"
    )
    default_date = (TODAY - timedelta(days=30)).isoformat()
    rows = [
        f"导入专利甲,CSV-1,示范甲公司,50000000,{default_date},cnipa,Y-CSV-1,60000000,internal,10000,"
        "invention_patent,CN2023CSV0001.1,导入方法甲,yes",
        f"导入专利乙,CSV-2,示范乙公司,50000000,{default_date},cnipa,Y-CSV-2,60000000,internal,9000,"
        "invention_patent,CN2023CSV0002.2,导入方法乙,yes",
        f"导入专利丙,CSV-3,示范丙公司,lots,{default_date},cnipa,Y-CSV-3,60000000,internal,10000,"
        "invention_patent,CN2023CSV0003.3,导入方法丙,yes",
    ]
    content = ("\n".join([header, *rows]) + "\n").encode()
    page = new_page()
    sign_in(page, "bank-a@bank.demo")
    page.goto("/bank/import")
    page.get_by_label("CSV 文件").set_input_files(
        files=[{"name": "listings.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.get_by_role("button", name="上传并校验").click()
    report = page.locator("#import-job[data-status=done]")
    report.wait_for()
    assert "1 个拍品已创建，2 行有错误" in report.inner_text()
    assert report.locator("tr.check-failed").count() == 2
    assert "ratios_not_10000" in report.locator("tr.check-failed").first.inner_text()
    assert "claim" in report.locator("tr.check-failed").nth(1).inner_text()
    screenshot(page, "bank-csv-import")
    report.get_by_role("link", name="导入专利甲").click()
    page.wait_for_url("**/bank/listings/*")
    assert page.locator(".badge-draft").is_visible()


def test_a_bank_counters_an_acquirers_offer(new_page: Any, live_app: LiveApp) -> None:
    listing = live_app.api("GET", "/api/listings", params={"q": "铝合金挤压"}).json()["items"][0]
    valid_until = (datetime.now(UTC) + timedelta(days=20)).isoformat().replace("+00:00", "Z")
    made = live_app.api(
        "POST",
        f"/api/listings/{listing['id']}/offers",
        "acquirer@party.demo",
        json={
            "kind": "acquisition",
            "amount": 80_000_000,
            "terms": {"payment_days": 30},
            "valid_until": valid_until,
        },
    )
    assert made.status_code == 201, made.text
    page = new_page()
    sign_in(page, "bank-a@bank.demo")
    page.goto("/bank/offers")
    row = page.locator("tr", has_text="¥800,000.00")
    assert "待答复" in row.inner_text()
    screenshot(page, "bank-offers")
    row.get_by_label("还价 (金额)").fill("900,000")
    row.get_by_role("button", name="还价").click()
    page.wait_for_load_state()
    row = page.locator("tr", has_text="¥800,000.00")
    row.get_by_text("已还价").wait_for()
    assert "还价: ¥900,000.00" in row.inner_text()
    row.get_by_role("button", name="拒绝").click()
    page.locator("tr", has_text="¥800,000.00").get_by_text("已拒绝").wait_for()


def test_a_buyer_opens_the_data_room_after_accepting_the_nda(new_page: Any, live_app: LiveApp) -> None:
    listing = live_app.api("GET", "/api/listings", params={"q": "铝合金挤压"}).json()["items"][0]
    uploaded = live_app.api(
        "POST",
        f"/api/listings/{listing['id']}/documents",
        "bank-a@bank.demo",
        files={"file": ("valuation-summary.txt", "评估报告摘要 valuation summary".encode(), "text/plain")},
        data={"confidential": "false"},
    )
    assert uploaded.status_code == 201, uploaded.text
    page = new_page()
    page.goto(f"/lots/{listing['id']}")
    assert page.locator("#data-room").get_by_role("link", name="登录").is_visible()
    sign_in(page, "buyer1@buyer.demo")
    page.goto(f"/lots/{listing['id']}")
    page.get_by_role("button", name="同意保密承诺并打开资料室").click()
    link = page.locator("#data-room").get_by_role("link", name="valuation-summary.txt")
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "valuation-summary.txt"


def test_the_catalogue_pages_through_a_banks_own_drafts(new_page: Any) -> None:
    header = (
        "title,loan_ref,pledgor_name,claim,default_date,pledge_registry,pledge_registration_no,"
        "valuation_amount,valuation_method,bank_ratio_bp,asset1_kind,asset1_number,asset1_title,none_known"
    )
    default_date = (TODAY - timedelta(days=30)).isoformat()
    rows = [
        f"分页专利{n:02d},PAGE-{n},示范公司,50000000,{default_date},cnipa,Y-P-{n},60000000,internal,10000,"
        f"invention_patent,CN2023PAGE{n:04d}.1,方法{n},yes"
        for n in range(14)
    ]
    content = ("\n".join([header, *rows]) + "\n").encode()
    page = new_page()
    sign_in(page, "bank-a@bank.demo")
    page.goto("/bank/import")
    page.get_by_label("CSV 文件").set_input_files(
        files=[{"name": "page.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.get_by_role("button", name="上传并校验").click()
    page.locator("#import-job[data-status=done]").wait_for()
    page.goto("/?q=分页专利")
    assert page.locator("#results-count").inner_text() == "共 14 个拍品"
    assert page.locator(".card").count() == 12
    page.get_by_role("link", name="下一页").click()
    page.wait_for_url("**page=2*")
    assert page.locator(".card").count() == 2
    assert page.get_by_text("第 2 / 2 页").is_visible()
    page.get_by_role("link", name="上一页").click()
    page.wait_for_url(lambda url: "page=1" in url)
    assert page.locator(".card").count() == 12
