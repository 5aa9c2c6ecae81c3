"""The exchange's operator reviews the queue, approves a listing and schedules its first round."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frontend.conftest import LiveApp, screenshot, sign_in

pytestmark = pytest.mark.browser

SUBMITTED_DEMO = "铝合金表面微弧氧化处理工艺发明专利"
OPERATOR_EMAIL = "operator@exchange.demo"


def test_an_operator_approves_a_listing_and_schedules_a_round(new_page: Any, live_app: LiveApp) -> None:
    page = new_page()
    sign_in(page, "operator@exchange.demo")
    assert page.url.endswith("/operator")
    row = page.locator("tr", has_text=SUBMITTED_DEMO)
    assert row.is_visible()
    screenshot(page, "operator-queue")
    row.get_by_role("link", name="审核").click()
    page.wait_for_url("**/operator/listings/*")
    assert page.locator(".check-group").count() == 2
    assert page.locator(".check-group[open] tr.check-warning").is_visible()
    page.get_by_role("button", name="批准并公告").click()
    page.locator(".badge-approved").wait_for()

    checks = page.locator("#schedule-checks")
    page.get_by_label("起拍价（元）").fill("800,000")
    page.get_by_label("加价幅度（元）").fill("10000")
    page.get_by_label("保证金（元）").fill("84000")
    checks.locator("p[data-verdict=price_below_floor]").wait_for()
    assert checks.locator("li[data-check=floor]").get_attribute("data-ok") == "false"

    page.get_by_label("起拍价（元）").fill("840,000")
    checks.locator("p[data-verdict=ok]").wait_for()
    assert checks.locator("li[data-ok=false]").count() == 0
    screenshot(page, "operator-schedule")

    page.get_by_label("保证金（元）").fill("200000")
    checks.locator("p[data-verdict=bad_deposit]").wait_for()
    page.get_by_role("button", name="排期", exact=True).click()
    page.locator("#schedule-errors [data-code=bad_deposit]").wait_for()

    page.get_by_label("保证金（元）").fill("84000")
    page.get_by_label("优先购买权人").fill("someone 1")
    page.get_by_role("button", name="排期", exact=True).click()
    page.locator("#schedule-errors [data-code=invalid_input]").wait_for()
    holder = live_app.api("GET", "/api/me", "buyer2@buyer.demo").json()["id"]
    page.get_by_label("优先购买权人").fill(f"{holder} 1")
    page.get_by_role("button", name="排期", exact=True).click()
    page.wait_for_url("**scheduled=1")
    assert page.get_by_text("已排期第 1 轮").is_visible()
    assert page.locator(".badge-in_disposal").is_visible()
    round_link = page.get_by_role("link", name="第 1 轮")
    assert round_link.is_visible()
    screenshot(page, "operator-scheduled")

    listing_id = page.url.split("/operator/listings/")[1].split("?")[0]
    rounds = live_app.api("GET", f"/api/listings/{listing_id}").json()["rounds"]
    auction_id = round_link.get_attribute("href").rsplit("/", 1)[1]
    auction = live_app.api("GET", f"/api/auctions/{auction_id}").json()
    assert auction["starting_price"] == 84_000_000
    assert auction["deposit"] == 8_400_000
    assert rounds == [] or rounds[0]["id"] == auction_id

    page.goto("/operator/live")
    assert page.locator("#live-rows tr", has_text=SUBMITTED_DEMO).is_visible()
    screenshot(page, "operator-live")
    page.goto("/operator/stats")
    assert page.locator("#stat-listed").inner_text() != ""
    screenshot(page, "operator-stats")


def test_an_operator_rejects_with_a_reason(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "operator@exchange.demo")
    page.locator("tr", has_text=SUBMITTED_DEMO).get_by_role("link", name="审核").click()
    page.get_by_label("退回原因").fill("年费欠缴，请补缴后再提交")
    page.get_by_role("button", name="退回").click()
    page.wait_for_url("**/operator")
    assert page.locator("tr", has_text=SUBMITTED_DEMO).count() == 0


@pytest.mark.parametrize(
    ("email", "path"),
    [
        pytest.param("buyer1@buyer.demo", "/operator", id="buyer-at-console"),
        pytest.param("bank-a@bank.demo", "/operator/stats", id="bank-at-stats"),
        pytest.param("operator@exchange.demo", "/bank", id="operator-at-bank-desk"),
        pytest.param("bank-a@bank.demo", "/me", id="bank-at-buyer-area"),
    ],
)
def test_desks_refuse_other_roles(new_page: Any, email: str, path: str) -> None:
    page = new_page()
    sign_in(page, email)
    response = page.goto(path)
    assert response is not None
    assert response.status == 403
    assert page.get_by_text("wrong_role").is_visible()


def test_a_desk_sends_a_visitor_to_sign_in_and_back(new_page: Any) -> None:
    page = new_page()
    page.goto("/operator/stats")
    page.wait_for_url(lambda url: "/login?next=%2Foperator%2Fstats" in url)
    page.get_by_label("电子邮箱").fill("operator@exchange.demo")
    page.get_by_label("密码").fill("demo-pass-2026")
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_url("**/operator/stats")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, "csrf_failed", id="a-plain-form-post"),
        pytest.param({"HX-Request": "true"}, "csrf_failed", id="htmx-without-the-token"),
        pytest.param({"HX-Request": "true", "X-CSRF-Token": "forged"}, "csrf_failed", id="a-forged-token"),
    ],
)
def test_a_signed_in_operators_session_cannot_be_used_without_the_pages_token(
    new_page: Any, live_app: LiveApp, headers: dict[str, str], code: str
) -> None:
    listing = live_app.api("GET", "/api/listings", OPERATOR_EMAIL, params={"q": SUBMITTED_DEMO}).json()[
        "items"
    ][0]
    page = new_page()
    sign_in(page, OPERATOR_EMAIL)
    response = page.request.post(f"/operator/listings/{listing['id']}/approve", headers=headers)
    assert response.status == 403
    body = response.text()
    assert f'data-code="{code}"' in body or f"<code>{code}</code>" in body
    assert (
        live_app.api("GET", f"/api/listings/{listing['id']}", OPERATOR_EMAIL).json()["status"] == "submitted"
    )


def test_a_cross_site_form_cannot_sign_anyone_in(new_page: Any) -> None:
    page = new_page()
    page.goto("/")
    response = page.request.post("/login", form={"email": OPERATOR_EMAIL, "password": "demo-pass-2026"})
    assert response.status == 403
    assert "<code>htmx_required</code>" in response.text()
    assert "mp_session" not in response.headers.get("set-cookie", "")


def test_signing_out_ends_the_session(new_page: Any) -> None:
    page = new_page()
    sign_in(page, OPERATOR_EMAIL)
    page.get_by_role("button", name="退出").click()
    page.wait_for_url(lambda url: url.rstrip("/").endswith(str(url).split("/")[2]))
    assert page.get_by_role("link", name="登录").is_visible()
    response = page.goto("/operator")
    assert response is not None
    assert "/login" in page.url
