"""Steps the browser tests share: a lot approved and a round scheduled through the API, a buyer's
registration in the room with the operator's confirmation of the transfer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.frontend.conftest import LiveApp

OPERATOR = "operator@exchange.demo"
LOT_TITLE = "铝合金表面微弧氧化处理工艺发明专利"
STARTING_PRICE = 84_000_000
INCREMENT = 1_000_000


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def approved_lot(live_app: LiveApp) -> str:
    items = live_app.api("GET", "/api/listings", OPERATOR, params={"q": "微弧氧化"}).json()["items"]
    listing_id = str(items[0]["id"])
    response = live_app.api("POST", f"/api/listings/{listing_id}/approve", OPERATOR)
    assert response.status_code == 200, response.text
    return listing_id


def schedule(live_app: LiveApp, listing_id: str, *, seconds: int, extension: int) -> str:
    starts = datetime.now(UTC) + timedelta(seconds=2)
    response = live_app.api(
        "POST",
        f"/api/listings/{listing_id}/auctions",
        OPERATOR,
        json={
            "kind": "auction",
            "starting_price": STARTING_PRICE,
            "increment": INCREMENT,
            "deposit": STARTING_PRICE // 10,
            "starts_at": rfc3339(starts),
            "ends_at": rfc3339(starts + timedelta(seconds=seconds)),
            "extension_seconds": extension,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def register_in_room(page: Any, live_app: LiveApp) -> str:
    """Click the room's registration; the operator confirms the transfer; returns the bidder code."""
    page.get_by_role("button", name="报名并缴纳保证金").click()
    mine = page.locator("#my-registration")
    mine.wait_for()
    assert "保证金待到账" in mine.inner_text()
    deposit_id = mine.get_attribute("data-deposit-id")
    confirmed = live_app.api("POST", f"/api/deposits/{deposit_id}/confirm", OPERATOR)
    assert confirmed.status_code == 200, confirmed.text
    return str(mine.get_attribute("data-bidder-code"))


def wait_open(page: Any) -> None:
    page.locator("#room-status .badge-round-open").wait_for(timeout=20_000)


def bid_message(page: Any) -> Any:
    return page.locator("#bid-message .alert")


def sold_lot(live_app: LiveApp, page: Any) -> tuple[str, str]:
    """A round on the demo lot that ``page`` (a signed-in buyer) wins with one bid at the starting
    price; returns ``(listing_id, auction_id)`` once the room has shown the close."""
    listing_id = approved_lot(live_app)
    auction_id = schedule(live_app, listing_id, seconds=15, extension=4)
    page.goto(f"/auctions/{auction_id}")
    register_in_room(page, live_app)
    wait_open(page)
    page.locator("#quick-bids button[data-step='1']").click()
    page.get_by_role("button", name="确认出价").click()
    page.locator("#you-lead").wait_for()
    page.locator("#outcome").wait_for(timeout=40_000)
    return listing_id, auction_id


def confirm_transfer(live_app: LiveApp, listing_id: str, transferee: str) -> None:
    prepared = live_app.api(
        "POST", f"/api/listings/{listing_id}/filings", OPERATOR, json={"transferee": transferee}
    )
    assert prepared.status_code == 201, prepared.text
    for filing in prepared.json():
        confirmed = live_app.api("POST", f"/api/filings/{filing['id']}/confirm", OPERATOR)
        assert confirmed.status_code == 200, confirmed.text
