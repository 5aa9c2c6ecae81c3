"""A visitor finds a lot in the catalogue and reads it; the pages switch to English and back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.frontend.conftest import LiveApp, running_app, screenshot

pytestmark = pytest.mark.browser

DEMO_TITLE = "高强度铝合金挤压成形专利包"


@pytest.fixture(scope="module")
def live_app(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """One app for the whole module: these tests only read."""
    with running_app(tmp_path_factory.mktemp("catalogue")) as app:
        yield app


def test_a_visitor_searches_the_catalogue_and_opens_a_lot(new_page: Any, live_app: LiveApp) -> None:
    page = new_page()
    page.goto("/")
    assert page.locator("h1").inner_text() == "拍品目录"
    cards = page.locator(".card")
    assert cards.count() >= 1
    screenshot(page, "catalogue")

    page.get_by_label("搜索").fill("铝合金挤压")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_url("**/?q=*")
    assert page.locator(".card").count() == 1
    assert DEMO_TITLE in page.locator(".card-title").inner_text()

    page.get_by_label("资产类型").select_option("trademark")
    page.wait_for_url("**kind=trademark*")
    page.locator("#results-count").wait_for()
    assert page.locator(".card").count() == 0
    assert page.locator(".empty").is_visible()

    page.goto("/?min_price=abc")
    assert page.locator("#results .alert-error").is_visible()

    page.goto("/?q=铝合金挤压")
    page.locator(".card-title a").first.click()
    page.wait_for_url("**/lots/*")
    assert DEMO_TITLE in page.locator("h1").inner_text()
    for heading in ("资产清单", "法律状态与登记核验", "评估", "拍卖轮次", "资料室", "适用规则"):
        assert page.get_by_role("heading", name=heading, exact=True).is_visible(), heading
    assert page.locator("table.checks .ok-mark").count() > 0
    assert page.locator("code.hash").count() > 0
    assert page.get_by_text("保密信息").count() == 0
    screenshot(page, "lot")


@pytest.mark.parametrize(
    ("start", "switch_to", "heading"),
    [
        pytest.param("/", "English", "Catalogue", id="to-english"),
        pytest.param("/?lang=en", "中文", "拍品目录", id="to-chinese"),
    ],
)
def test_the_language_switch_keeps_the_page(new_page: Any, start: str, switch_to: str, heading: str) -> None:
    page = new_page()
    page.goto(start)
    page.get_by_role("link", name=switch_to).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == heading
    page.goto("/")
    assert page.locator("h1").inner_text() == heading


def test_english_lot_page(new_page: Any, live_app: LiveApp) -> None:
    listing = live_app.api("GET", "/api/listings", params={"q": "铝合金挤压"}).json()["items"][0]
    page = new_page()
    page.goto(f"/lots/{listing['id']}?lang=en")
    assert page.get_by_role("heading", name="Rules that apply").is_visible()
    assert page.get_by_text("¥1,200,000.00").first.is_visible()
    screenshot(page, "lot-en")


def test_a_phone_sees_the_catalogue_in_one_column(new_page: Any) -> None:
    page = new_page(width=390, height=844)
    page.goto("/")
    box = page.locator(".card").first.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "catalogue-phone")
