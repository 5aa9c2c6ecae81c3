"""Driving a running exchange over HTTP and websockets: sign-in, a round, bidders, watchers.

Used by the fault tests, which run real app processes (``tests.procs``) against their own
PostgreSQL and Redis and need clients that keep going while a service is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from sqlalchemy import select

from marketplace.auctions.models import Auction, AuctionEvent, Bid
from marketplace.settings import Settings
from tests.helpers import DEMO_PASSWORD, OPERATOR, direct_db

FINAL = ("sold", "failed", "defaulted")
BIDDER_PASSWORD = "long-enough-pw"
_bidder_numbers = itertools.count(1)


async def token(
    http: httpx.AsyncClient, base: str, email: str, password: str = DEMO_PASSWORD
) -> dict[str, str]:
    response = await http.post(f"{base}/api/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def schedule_round(
    http: httpx.AsyncClient,
    base: str,
    listing_id: uuid.UUID,
    *,
    start_in: float,
    duration: float,
    increment: int = 100_000,
    extension_seconds: int = 2,
) -> dict[str, Any]:
    operator = await token(http, base, OPERATOR)
    starts = datetime.now(UTC) + timedelta(seconds=start_in)
    response = await http.post(
        f"{base}/api/listings/{listing_id}/auctions",
        json={
            "kind": "auction",
            "starting_price": 70_000_000,
            "increment": increment,
            "deposit": 7_000_000,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(seconds=duration)).isoformat(),
            "extension_seconds": extension_seconds,
        },
        headers=operator,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class Bidder:
    email: str
    base: str
    headers: dict[str, str]


async def enrol(http: httpx.AsyncClient, base: str, auction_id: str) -> Bidder:
    """A new buyer on ``base``: registered, signed in there, deposit held (confirmed by the operator)."""
    number = next(_bidder_numbers)
    email = f"fault-{uuid.uuid4().hex[:8]}-{number}@buyer.demo"
    registered = await http.post(
        f"{base}/api/buyers/register",
        json={
            "email": email,
            "password": BIDDER_PASSWORD,
            "real_name": f"Fault Bidder {number}",
            "id_number": f"ID{number:08d}",
        },
    )
    assert registered.status_code == 201, registered.text
    headers = await token(http, base, email, BIDDER_PASSWORD)
    registration = await http.post(
        f"{base}/api/auctions/{auction_id}/registrations", json={"payment": "offline"}, headers=headers
    )
    assert registration.status_code == 201, registration.text
    operator = await token(http, base, OPERATOR)
    confirmed = await http.post(
        f"{base}/api/deposits/{registration.json()['deposit']['id']}/confirm", headers=operator
    )
    assert confirmed.status_code == 200, confirmed.text
    return Bidder(email, base, headers)


@dataclass
class BidLog:
    """Every answer a bidder got: accepted bids (seq, amount) and the status/code of the rest."""

    accepted: list[tuple[int, int]] = field(default_factory=list)
    answers: list[tuple[str, int, str]] = field(default_factory=list)
    unavailable: list[tuple[str, str, str | None]] = field(default_factory=list)

    def record(self, phase: str, response: httpx.Response) -> None:
        code = ""
        if response.status_code != 201:
            with contextlib.suppress(ValueError):
                code = str(response.json().get("code", ""))
        self.answers.append((phase, response.status_code, code))
        if response.status_code >= 500:
            media_type = response.headers.get("content-type", "")
            self.unavailable.append((phase, media_type, response.headers.get("retry-after")))
        if response.status_code == 201:
            body = response.json()
            self.accepted.append((int(body["seq"]), int(body["amount"])))

    def statuses(self, phase: str) -> set[int]:
        return {status for p, status, _ in self.answers if p == phase}

    def codes(self, phase: str) -> set[str]:
        return {code for p, status, code in self.answers if p == phase and status != 201}

    def accepted_in(self, phase: str) -> int:
        return sum(1 for p, status, _ in self.answers if p == phase and status == 201)


BUSINESS_REFUSALS = {"bid_too_low", "already_leading", "bad_increment", "auction_closed", "auction_not_open"}


@dataclass
class Phase:
    """What the test is doing to the services right now.

    An answer is filed under the phase its request started and ended in, or under ``a->b`` when the
    phase changed while it was in flight.
    """

    now: str

    def since(self, started: str) -> str:
        return started if self.now == started else f"{started}->{self.now}"

    def transitions(self, log: BidLog) -> set[str]:
        return {phase for phase, _, _ in log.answers if "->" in phase}


async def bid_once(
    http: httpx.AsyncClient, bidder: Bidder, auction_id: str, log: BidLog, phase: Phase, rng: random.Random
) -> None:
    """Read the price, outbid it, record the answer; a transport error is an unanswered bid."""
    started = phase.now
    try:
        state = await http.get(f"{bidder.base}/api/auctions/{auction_id}")
        if state.status_code != 200:
            log.record(phase.since(started), state)
            return
        body = state.json()
        if body["status"] in FINAL:
            return
        amount = (body["current_price"] or body["starting_price"] - body["increment"]) + body[
            "increment"
        ] * rng.randint(1, 3)
        response = await http.post(
            f"{bidder.base}/api/auctions/{auction_id}/bids",
            json={"amount": amount},
            headers={**bidder.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        log.record(phase.since(started), response)
        if response.status_code == 401:  # the session is gone (Redis came back empty): sign in again
            bidder.headers = await token(http, bidder.base, bidder.email, BIDDER_PASSWORD)
    except httpx.TransportError:
        log.answers.append((phase.since(started), 0, "no_answer"))


async def bid_for(
    http: httpx.AsyncClient,
    bidders: list[Bidder],
    auction_id: str,
    log: BidLog,
    phase: str | Phase,
    seconds: float,
    seed: int = 0,
) -> None:
    """Every bidder bids in a loop for ``seconds``; a bid is filed under the phase it started in."""
    deadline = time.monotonic() + seconds
    current = phase if isinstance(phase, Phase) else Phase(phase)

    async def loop(index: int, bidder: Bidder) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() < deadline:
            await bid_once(http, bidder, auction_id, log, current, rng)
            await asyncio.sleep(rng.random() * 0.15)

    await asyncio.gather(*(loop(i, b) for i, b in enumerate(bidders)))


@dataclass
class LiveWatcher:
    """A websocket client that resumes with ``after_seq`` whenever its connection ends."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    jumps: list[tuple[int, int]] = field(default_factory=list)
    last_seq: int = 0
    connections: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            self.snapshots.append(message)
            if message["seq"] > self.last_seq:
                self.jumps.append((self.last_seq, int(message["seq"])))
                self.last_seq = int(message["seq"])
            if message.get("status") in FINAL and message["seq"] == self.last_seq and self.events:
                self.finished.set()
            return
        self.events.append(message)
        self.last_seq = int(message["seq"])
        if message["type"] == "closed":
            self.finished.set()

    async def run(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not self.finished.is_set() and time.monotonic() < deadline:
            try:
                async with websockets.connect(
                    f"{self.url}?after_seq={self.last_seq}", open_timeout=5, close_timeout=1
                ) as ws:
                    self.connections += 1
                    async for raw in ws:
                        self.take(json.loads(raw))
                        if self.finished.is_set():
                            return
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                pass
            await asyncio.sleep(0.2)

    def seqs(self) -> list[int]:
        return [int(event["seq"]) for event in self.events]


@dataclass
class StoredRound:
    status: str
    seq: int
    bids: list[tuple[int, int]]
    event_types: list[str]


async def stored_round(database_url: str, auction_id: str) -> StoredRound:
    """The round as the database holds it (the truth every answer is checked against)."""
    settings = Settings(database_url=database_url)
    key = uuid.UUID(auction_id)
    async with direct_db(settings) as session:
        auction = await session.get(Auction, key)
        assert auction is not None
        bids = await session.execute(
            select(Bid.seq, Bid.amount).where(Bid.auction_id == key).order_by(Bid.seq)
        )
        types = await session.scalars(
            select(AuctionEvent.type).where(AuctionEvent.auction_id == key).order_by(AuctionEvent.seq)
        )
        return StoredRound(auction.status, auction.seq, [(int(s), int(a)) for s, a in bids], list(types))


async def wait_for(condition: Any, seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(interval)
    return False


async def healthy(http: httpx.AsyncClient, base: str) -> bool:
    try:
        return (await http.get(f"{base}/health", timeout=2)).status_code == 200
    except httpx.HTTPError:
        return False
