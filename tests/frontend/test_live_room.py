"""Buyers find a lot, register, and bid live; both rooms follow every bid without a reload.

The rounds here are scheduled through the API with the sandbox rules: a soft-close window longer
than the round, so every bid extends the end (the extension count is deterministic), or a short
round that closes while the room watches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.frontend.conftest import LiveApp, running_app, screenshot, sign_in
from tests.frontend.flows import (
    LOT_TITLE,
    OPERATOR,
    approved_lot,
    bid_message,
    register_in_room,
    schedule,
    wait_open,
)

pytestmark = pytest.mark.browser


@pytest.fixture(params=["sqlite", "postgres"])
def live_app(request: pytest.FixtureRequest, chromium_path: str, tmp_path: Path) -> Iterator[LiveApp]:
    """The live room on both set-ups: embedded, and PostgreSQL with Redis fan-out."""
    with running_app(tmp_path, request.param) as app:
        yield app


def test_two_buyers_bid_live_and_both_rooms_follow(new_page: Any, live_app: LiveApp) -> None:
    listing_id = approved_lot(live_app)
    auction_id = schedule(live_app, listing_id, seconds=60, extension=120)

    alice = new_page()
    alice.goto("/register")
    alice.get_by_label("真实姓名").fill("赵六 Zhao Liu")
    alice.get_by_label("身份证件号码").fill("110101199901010099")
    alice.get_by_label("电子邮箱").fill("zhao.liu@example.com")
    alice.get_by_label("密码").fill("a-long-password")
    screenshot(alice, "register")
    alice.get_by_role("button", name="注册并登录").click()
    alice.wait_for_url("**/me")

    alice.goto("/")
    alice.get_by_label("搜索").fill("微弧氧化")
    alice.get_by_role("button", name="筛选", exact=True).click()
    alice.locator(".card-title a", has_text=LOT_TITLE).click()
    alice.wait_for_url(f"**/lots/{listing_id}")
    alice.locator(".next-round").get_by_role("link", name="进入竞价室").click()
    alice.wait_for_url(f"**/auctions/{auction_id}")

    alice.reload()
    assert alice.get_by_role("button", name="报名并缴纳保证金").is_visible()
    alice.get_by_role("button", name="报名并缴纳保证金").click()
    mine = alice.locator("#my-registration")
    mine.wait_for()
    assert "保证金待到账" in mine.inner_text()
    alice_code = str(mine.get_attribute("data-bidder-code"))
    wait_open(alice)
    assert alice.locator("#connection").get_attribute("data-state") == "open"
    alice.get_by_label("出价金额（元）").fill("840000")
    alice.get_by_role("button", name="确认出价").click()
    bid_message(alice).and_(alice.locator("[data-code=deposit_required]")).wait_for()
    screenshot(alice, "room-deposit-required")
    deposit_id = mine.get_attribute("data-deposit-id")
    assert live_app.api("POST", f"/api/deposits/{deposit_id}/confirm", OPERATOR).status_code == 200

    alice.locator("#quick-bids button[data-step='1']").click()
    assert alice.get_by_label("出价金额（元）").input_value() == "840000.00"
    alice.get_by_role("button", name="确认出价").click()
    bid_message(alice).filter(has_text="出价成功").wait_for()
    alice.locator("#current-price", has_text="¥840,000.00").wait_for()
    alice.locator("#you-lead").wait_for()
    alice.locator("#extensions", has_text="延时 1 次").wait_for()
    assert alice.locator("#leader-code").inner_text() == alice_code

    bob = new_page()
    sign_in(bob, "buyer2@buyer.demo")
    bob.goto(f"/auctions/{auction_id}")
    bob_code = register_in_room(bob, live_app)
    assert bob_code != alice_code
    bob.locator("#current-price", has_text="¥840,000.00").wait_for()
    assert bob.locator("#you-lead").is_hidden()

    bob.get_by_label("出价金额（元）").fill("840000")
    bob.get_by_role("button", name="确认出价").click()
    refusal = bid_message(bob)
    refusal.wait_for()
    assert refusal.get_attribute("data-code") == "bid_too_low"
    assert "出价过低" in refusal.inner_text()

    bob.get_by_label("出价金额（元）").fill("855000")
    bob.get_by_role("button", name="确认出价").click()
    bid_message(bob).and_(bob.locator("[data-code=bad_increment]")).wait_for()

    bob.locator("#quick-bids button[data-step='1']").click()
    bob.get_by_role("button", name="确认出价").click()
    bid_message(bob).filter(has_text="出价成功").wait_for()

    for page in (alice, bob):
        page.locator("#current-price", has_text="¥850,000.00").wait_for()
        page.locator("#extensions", has_text="延时 2 次").wait_for()
        assert page.locator("#bid-history tr").count() == 2
        assert page.locator("#leader-code").inner_text() == bob_code
        assert page.locator("#price-chart circle").count() == 2
    assert bob.locator("#you-lead").is_visible()
    assert alice.locator("#you-lead").is_hidden()
    assert bob.locator("#extended-note").is_visible()
    screenshot(bob, "room")

    alice.get_by_label("出价金额（元）").fill("1,000,000")
    alice.get_by_role("button", name="确认出价").click()
    confirm = alice.locator("#bid-confirm")
    confirm.wait_for()
    assert "¥1,000,000.00" in confirm.inner_text()
    assert "¥150,000.00" in confirm.inner_text()
    screenshot(alice, "room-confirm-large-bid")
    alice.get_by_role("button", name="确定出价").click()
    for page in (alice, bob):
        page.locator("#current-price", has_text="¥1,000,000.00").wait_for()
        page.locator("#extensions", has_text="延时 3 次").wait_for()
    assert alice.locator("#you-lead").is_visible()
    alice.reload()
    assert alice.locator("#my-registration").get_attribute("data-bidder-code") == alice_code
    assert alice.locator("#you-lead").is_visible()
    assert alice.locator("#bid-history tr").count() == 3

    bids = live_app.api("GET", f"/api/auctions/{auction_id}/bids").json()
    assert [b["amount"] for b in bids] == [84_000_000, 85_000_000, 100_000_000]
    assert [b["bidder_code"] for b in bids] == [alice_code, bob_code, alice_code]


def test_a_room_resumes_from_its_last_seq_after_losing_the_feed(new_page: Any, live_app: LiveApp) -> None:
    listing_id = approved_lot(live_app)
    auction_id = schedule(live_app, listing_id, seconds=60, extension=120)

    feeds: list[Any] = []
    urls: list[str] = []
    blocked = {"now": False}

    watcher = new_page()

    def route(ws: Any) -> None:
        urls.append(ws.url)
        if blocked["now"]:
            ws.close()
            return
        ws.connect_to_server()
        feeds.append(ws)

    watcher.route_web_socket(re.compile(r".*/ws/auctions/.*"), route)
    watcher.goto(f"/auctions/{auction_id}")
    watcher.evaluate("document.getElementById('room').dataset.sameDocument = 'yes'")
    wait_open(watcher)

    bidder = new_page()
    sign_in(bidder, "buyer3@buyer.demo")
    bidder.goto(f"/auctions/{auction_id}")
    register_in_room(bidder, live_app)
    bidder.locator("#quick-bids button[data-step='1']").click()
    bidder.get_by_role("button", name="确认出价").click()
    watcher.locator("#bids-count", has_text="出价 1 次").wait_for()
    watcher.locator("#extensions", has_text="延时 1 次").wait_for()

    blocked["now"] = True
    attempts = len(urls)
    feeds[-1].close()
    watcher.locator("#connection[data-state=lost]").wait_for()
    for _ in range(150):  # until the room has tried to come back at least once (and been refused)
        if len(urls) > attempts:
            break
        watcher.wait_for_timeout(100)
    assert len(urls) > attempts

    other = "buyer2@buyer.demo"
    registration = live_app.api(
        "POST", f"/api/auctions/{auction_id}/registrations", other, json={"payment": "offline"}
    )
    deposit_id = registration.json()["deposit"]["id"]
    assert live_app.api("POST", f"/api/deposits/{deposit_id}/confirm", OPERATOR).status_code == 200
    placed = live_app.api("POST", f"/api/auctions/{auction_id}/bids", other, json={"amount": 86_000_000})
    assert placed.status_code == 201, placed.text
    bidder.locator("#current-price", has_text="¥860,000.00").wait_for()
    assert watcher.locator("#current-price").inner_text() == "¥840,000.00"
    screenshot(watcher, "room-reconnecting")

    blocked["now"] = False
    watcher.locator("#connection[data-state=open]").wait_for(timeout=30_000)
    watcher.locator("#current-price", has_text="¥860,000.00").wait_for()
    assert watcher.locator("#bid-history tr").count() == 2
    assert watcher.locator("#extensions").inner_text() == "延时 2 次"
    assert watcher.evaluate("document.getElementById('room').dataset.sameDocument") == "yes"
    # opened (1), the first bid (2) and its extension (3) were seen before the drop
    assert len(urls) >= 3, urls
    assert all(url.endswith("after_seq=3") for url in urls[1:]), urls


def test_the_room_shows_the_close_to_everyone(new_page: Any, live_app: LiveApp) -> None:
    listing_id = approved_lot(live_app)
    auction_id = schedule(live_app, listing_id, seconds=15, extension=4)

    winner = new_page(width=390, height=844)
    sign_in(winner, "buyer3@buyer.demo")
    winner.goto(f"/auctions/{auction_id}")
    code = register_in_room(winner, live_app)
    wait_open(winner)
    winner.locator("#quick-bids button[data-step='1']").click()
    winner.get_by_role("button", name="确认出价").click()
    winner.locator("#you-lead").wait_for()
    screenshot(winner, "room-phone")
    assert winner.evaluate("document.documentElement.scrollWidth") <= 390

    outcome = winner.locator("#outcome")
    outcome.wait_for(timeout=40_000)
    assert "¥840,000.00" in outcome.inner_text()
    assert code in outcome.inner_text()
    assert winner.locator("#room-status .badge-round-sold").is_visible()
    assert winner.locator("#bid-submit").is_disabled()
    assert winner.locator("#countdown").inner_text() == "00:00:00"

    winner.goto("/me")
    won = winner.locator("section", has_text="我竞得的拍品")
    assert "¥756,000.00" in won.inner_text()
    mine = winner.locator("section", has_text="我报名的拍卖")
    assert code in mine.inner_text()
    assert winner.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(winner, "buyer-area-phone")
    won.get_by_role("link", name="查看成交确认书").click()
    winner.wait_for_url(f"**/me/confirmations/{auction_id}")
    assert winner.get_by_role("heading", name="成交确认书").is_visible()
    assert winner.get_by_text("王五 Wang Wu").first.is_visible()
    assert winner.get_by_text("¥756,000.00").is_visible()
    screenshot(winner, "sale-confirmation")
