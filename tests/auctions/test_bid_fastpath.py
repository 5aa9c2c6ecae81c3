"""The bid route's fast lane (marketplace/auctions/fastpath.py) answers exactly as Litestar's route.

The same sequence of bid requests, plain and odd, is sent to an app with the lane and to one
without it (``bid_fast_path=False``), each on a round of its own; every answer must have the same
status, the same headers (but the request id and the date) and the same body (timestamps and
bidder codes of a 201 aside, which differ between two rounds by nature). The lane's own count
shows which requests it took, so a lane that handed everything to Litestar would fail too.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions.fastpath import BidFastPath
from marketplace.settings import Settings
from tests.auctions.factories import approved_listing, registered_bidder, schedule, wait_until
from tests.helpers import BANK_A, BUYERS, OPERATOR, bearer

Answer = tuple[int, list[tuple[str, str]], Any]
VOLATILE_HEADERS = {"x-request-id", "date", "content-length"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)?")


def _answer(response: Any) -> Answer:
    headers = sorted(
        (name.lower(), value)
        for name, value in response.headers.multi_items()
        if name.lower() not in VOLATILE_HEADERS
    )
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json() if response.content else None
    if response.status_code == 201:
        assert set(body) == {"seq", "amount", "leader_code", "ends_at", "extensions"}
        assert body["leader_code"]
        assert body["ends_at"]
        body = {"seq": body["seq"], "amount": body["amount"], "extensions": body["extensions"]}
    elif isinstance(body, dict) and isinstance(body.get("detail"), str):
        # the round's own id, start or end
        body["detail"] = UUID.sub("<round>", MOMENT.sub("<moment>", body["detail"]))
    return response.status_code, headers, body


async def _scenario(client: AsyncTestClient[Any], settings: Settings) -> tuple[list[tuple[str, Answer]], int]:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.5, duration=30, increment=1_000_000)
    aid = auction["id"]
    url = f"/api/auctions/{aid}/bids"
    buyer, _ = await registered_bidder(client, aid, BUYERS[0])
    rival, _ = await registered_bidder(client, aid, BUYERS[1])
    outsider = await bearer(client, BUYERS[2])
    bank = await bearer(client, BANK_A)
    operator = await bearer(client, OPERATOR)
    raw_json = {**buyer, "content-type": "application/json"}
    answers: list[tuple[str, Answer]] = []

    async def send(label: str, path: str = url, **kwargs: Any) -> None:
        answers.append((label, _answer(await client.post(path, **kwargs))))

    await send("before the start", json={"amount": 70_000_000}, headers=buyer)
    await wait_until(auction["starts_at"])
    await send("no deposit", json={"amount": 70_000_000}, headers=outsider)
    await send("the listing bank", json={"amount": 70_000_000}, headers=bank)
    await send("staff", json={"amount": 70_000_000}, headers=operator)
    await send("first bid", json={"amount": 70_000_000}, headers=buyer)
    await send("already leading", json={"amount": 71_000_000}, headers=buyer)
    await send("too low", json={"amount": 70_500_000}, headers=rival)
    await send("off the increment", json={"amount": 71_500_000}, headers=rival)
    await send("negative", json={"amount": -5}, headers=rival)
    await send("zero", json={"amount": 0}, headers=rival)
    await send("overtakes", json={"amount": 71_000_000}, headers=rival)
    await send("no such round", path=f"/api/auctions/{uuid.uuid4()}/bids", json={"amount": 1}, headers=buyer)
    # what the lane hands to Litestar
    await send("malformed json", content=b'{"amount": ', headers=raw_json)
    await send("not an object", content=b"[1]", headers=raw_json)
    await send("amount as text", content=b'{"amount": "72000000"}', headers=raw_json)
    await send("fractional", content=b'{"amount": 72000000.5}', headers=raw_json)
    await send("too large", json={"amount": 10**16}, headers=buyer)
    await send("unknown field", json={"amount": 72_000_000, "currency": "USD"}, headers=buyer)
    await send("no body", content=b"", headers=raw_json)
    await send("text/plain", content=b'{"amount": 72000000}', headers={**buyer, "content-type": "text/plain"})
    await send("stale token", json={"amount": 72_000_000}, headers={"authorization": "Bearer nope"})
    await send("basic auth", json={"amount": 72_000_000}, headers={"authorization": "Basic eDp5"})
    await send("anonymous", json={"amount": 72_000_000})
    await send("query string", path=url + "?x=1", json={"amount": 72_000_000}, headers=buyer)
    keyed = {**buyer, "idempotency-key": "fast-lane-1"}
    await send("idempotent", json={"amount": 72_000_000}, headers=keyed)
    await send("idempotent replay", json={"amount": 72_000_000}, headers=keyed)
    await send("after the replay", json={"amount": 73_000_000}, headers=rival)
    handler = client.app.asgi_handler
    taken = handler.taken if isinstance(handler, BidFastPath) else 0
    return answers, taken


async def _run(settings: Settings) -> tuple[list[tuple[str, Answer]], int]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        return await _scenario(client, settings)


async def test_the_fast_lane_answers_as_the_route_does(settings: Settings) -> None:
    fast, taken = await _run(settings.with_(bid_fast_path=True))
    routed, untouched = await _run(settings.with_(bid_fast_path=False))
    assert [label for label, _ in fast] == [label for label, _ in routed]
    for (label, lane), (_, route) in zip(fast, routed, strict=True):
        assert lane == route, label
    assert untouched == 0
    # The first twelve requests and the last are plain bids (answers from 201 to 404); the rest
    # are not, and Litestar answered them.
    assert taken == 13
    statuses = {label: answer[0] for label, answer in fast}
    assert statuses["first bid"] == statuses["overtakes"] == statuses["after the replay"] == 201
    assert statuses["too low"] == 422
    assert statuses["already leading"] == 409
    assert statuses["malformed json"] == 400
    assert statuses["stale token"] == 401
    assert dict(fast)["idempotent replay"][1].count(("idempotent-replayed", "true")) == 1


async def test_a_fast_answer_carries_the_request_id_and_security_headers(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=30)
    buyer, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    await wait_until(auction["starts_at"])
    response = await client.post(
        f"/api/auctions/{auction['id']}/bids",
        json={"amount": 70_000_000},
        headers={**buyer, "x-request-id": "bid-trace-42"},
    )
    assert response.status_code == 201, response.text
    assert isinstance(client.app.asgi_handler, BidFastPath)
    assert client.app.asgi_handler.taken == 1
    assert response.headers["x-request-id"] == "bid-trace-42"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["content-type"] == "application/json"
    bids = (await client.get(f"/api/auctions/{auction['id']}/bids")).json()
    assert [(b["seq"], b["amount"]) for b in bids] == [(response.json()["seq"], 70_000_000)]


async def test_the_fast_lane_keeps_the_rate_limit(settings: Settings) -> None:
    limited = settings.with_(bid_limit_per_user=2, bid_limit_window_seconds=60)
    for fast, email in ((True, BUYERS[0]), (False, BUYERS[1])):
        async with AsyncTestClient(app=create_app(limited.with_(bid_fast_path=fast))) as client:
            listing_id = await approved_listing(settings)
            auction = await schedule(client, listing_id, start_in=1.0, duration=30)
            buyer, _ = await registered_bidder(client, auction["id"], email)
            await wait_until(auction["starts_at"])
            url = f"/api/auctions/{auction['id']}/bids"
            codes = [
                (await client.post(url, json={"amount": amount}, headers=buyer)).status_code
                for amount in (70_000_000, 71_000_000, 72_000_000)
            ]
            refused = await client.post(url, json={"amount": 73_000_000}, headers=buyer)
            assert codes == [201, 409, 429], (fast, codes)
            assert refused.status_code == 429
            assert refused.json()["code"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
