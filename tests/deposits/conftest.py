"""Fixtures: the fake Stripe server (one per session, reset per test) and a harness per gateway.

A :class:`Harness` hides what differs between gateways so that one contract suite runs against all
of them: how a freshly opened hold becomes held (the operator confirms an offline transfer; a card
is authorised at once), how creations are counted, how a response is lost after the work was done,
and how time passes for authorisations.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from marketplace.deposits import (
    Hold,
    InMemoryGateway,
    MemoryTransferBook,
    OfflineTransferGateway,
    PaymentError,
    PaymentGateway,
    Payout,
    StripeGateway,
)
from tests.fakes.stripe_server import Served, running_fake_stripe

STRIPE_TEST_KEY = "sk_test_fake_marketplace"
WEBHOOK_SECRET = "whsec_fake_marketplace"
CONNECTED_ACCOUNTS = {"bank": "acct_bank0001", "guarantor": "acct_guarantor01", "pool": "acct_pool0001"}

_deposit_numbers = itertools.count(1)


def new_deposit_id() -> str:
    return f"dep-{next(_deposit_numbers):06d}"


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class LosingBook(MemoryTransferBook):
    """A transfer book whose next save is stored but answered with a lost connection."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_next = False

    async def save(self, record: Hold | Payout) -> None:
        await super().save(record)
        if self.lose_next:
            self.lose_next = False
            raise PaymentError("gateway_unavailable", "the answer was lost after the record was saved")


@dataclass
class Harness:
    name: str
    gateway: PaymentGateway
    payer: str
    declining_payer: str
    payees: tuple[str, ...]
    hold_lapses: bool
    make_held: Callable[[Hold], Awaitable[Hold]]
    creations: Callable[[str], int]
    lose_next_response: Callable[[], None]
    advance: Callable[[timedelta], None]


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[Served]:
    with running_fake_stripe() as served:
        yield served


@pytest.fixture
def fake_stripe(stripe_server: Served) -> Served:
    stripe_server.fake.reset()
    return stripe_server


@pytest.fixture
async def stripe_gateway(fake_stripe: Served) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        STRIPE_TEST_KEY,
        api_base=fake_stripe.base_url,
        connected_accounts=CONNECTED_ACCOUNTS,
        webhook_secret=WEBHOOK_SECRET,
        max_network_retries=0,
    )
    yield gateway
    await gateway.aclose()


async def _already_held(hold: Hold) -> Hold:
    return hold


def memory_harness() -> Harness:
    clock = ManualClock()
    gateway = InMemoryGateway(clock=clock)
    return Harness(
        name="memory",
        gateway=gateway,
        payer="buyer-1",
        declining_payer="decline",
        payees=("bank", "guarantor"),
        hold_lapses=True,
        make_held=_already_held,
        creations=lambda kind: gateway.creations[kind],
        lose_next_response=gateway.drop_next_response,
        advance=clock.advance,
    )


def stripe_harness(gateway: StripeGateway, served: Served) -> Harness:
    stripe_kinds = {"hold": "payment_intents.create", "payout": "transfers.create"}
    return Harness(
        name="stripe",
        gateway=gateway,
        payer="pm_card_visa",
        declining_payer="pm_card_chargeDeclined",
        payees=("bank", "guarantor"),
        hold_lapses=True,
        make_held=_already_held,
        creations=lambda kind: served.fake.counts[stripe_kinds[kind]],
        lose_next_response=served.fake.drop_next_response,
        advance=lambda delta: served.fake.advance(int(delta.total_seconds())),
    )


def offline_harness() -> Harness:
    book = LosingBook()
    gateway = OfflineTransferGateway("北京知识产权交易中心", "110-0000-0001", "Bank of Beijing", book=book)

    def lose_next() -> None:
        book.lose_next = True

    def creations(kind: str) -> int:
        record_type = Hold if kind == "hold" else Payout
        return sum(isinstance(record, record_type) for record in book.records.values())

    return Harness(
        name="offline",
        gateway=gateway,
        payer="buyer-1",
        declining_payer="",
        payees=("bank", "guarantor"),
        hold_lapses=False,
        make_held=lambda hold: gateway.confirm_received(hold.provider_ref),
        creations=creations,
        lose_next_response=lose_next,
        advance=lambda delta: None,
    )


@pytest.fixture(params=["memory", "stripe", "offline"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return memory_harness()
    if request.param == "offline":
        return offline_harness()
    return stripe_harness(request.getfixturevalue("stripe_gateway"), request.getfixturevalue("fake_stripe"))


@pytest.fixture(params=["memory", "stripe"])
def card_harness(request: pytest.FixtureRequest) -> Harness:
    """Only the gateways where a hold is a card authorisation: it can be declined and it lapses."""
    if request.param == "memory":
        return memory_harness()
    return stripe_harness(request.getfixturevalue("stripe_gateway"), request.getfixturevalue("fake_stripe"))


async def open_held(harness: Harness, *, amount: int = 500_000_00, deposit_id: str | None = None) -> Hold:
    """A deposit hold that is held (after the operator's confirmation, for an offline transfer)."""
    deposit = deposit_id or new_deposit_id()
    opened = await harness.gateway.open_hold(
        deposit_id=deposit,
        amount=amount,
        currency="CNY",
        payer_ref=harness.payer,
        idempotency_key=f"deposit-hold:{deposit}",
    )
    return await harness.make_held(opened)
