"""Records: ``python -m marketplace verify`` finds any break of an auction's hash chain or the ledger.

Each tampering below is applied in a transaction that is rolled back afterwards (the database is
the test's own); the command-line tests commit a tampering and read the exit status.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.auctions.models import Auction, AuctionEvent
from marketplace.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.settings import Settings
from marketplace.verify import verify_records
from tests.auctions.factories import approved_listing, registered_bidder, schedule, wait_until
from tests.helpers import BUYERS, direct_db
from tests.procs import ROOT, app_env

Client = AsyncTestClient[Any]
Tamper = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(auction_rules="sandbox")


async def round_with_bids(client: Client, settings: Settings) -> uuid.UUID:
    """A round with four events: opened, then three bids."""
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=30)
    first, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    second, _ = await registered_bidder(client, auction["id"], BUYERS[1])
    await wait_until(auction["starts_at"])
    for headers, amount in ((first, 70_000_000), (second, 71_000_000), (first, 72_000_000)):
        response = await client.post(
            f"/api/auctions/{auction['id']}/bids", json={"amount": amount}, headers=headers
        )
        assert response.status_code == 201, response.text
    return uuid.UUID(auction["id"])


def _event(auction_id: uuid.UUID, seq: int) -> Any:
    return (AuctionEvent.auction_id == auction_id) & (AuctionEvent.seq == seq)


async def edit_a_bid_amount(session: AsyncSession, auction_id: uuid.UUID) -> None:
    payload = await session.scalar(select(AuctionEvent.payload).where(_event(auction_id, 3)))
    assert payload is not None
    assert "71000000" in payload
    forged = payload.replace("71000000", "70500000")
    await session.execute(update(AuctionEvent).where(_event(auction_id, 3)).values(payload=forged))


async def remove_a_middle_event(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(delete(AuctionEvent).where(_event(auction_id, 2)))


async def remove_the_last_event(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(delete(AuctionEvent).where(_event(auction_id, 4)))


async def remove_the_whole_log(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(delete(AuctionEvent).where(AuctionEvent.auction_id == auction_id))


async def recompute_nothing_but_the_hash(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(update(AuctionEvent).where(_event(auction_id, 4)).values(hash="f" * 64))


async def backdate_an_event(session: AsyncSession, auction_id: uuid.UUID) -> None:
    at = await session.scalar(select(AuctionEvent.at).where(_event(auction_id, 2)))
    assert at is not None
    await session.execute(
        update(AuctionEvent).where(_event(auction_id, 2)).values(at=at.replace(year=at.year - 1))
    )


async def swap_two_events(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(update(AuctionEvent).where(_event(auction_id, 2)).values(seq=-2))
    await session.execute(update(AuctionEvent).where(_event(auction_id, 3)).values(seq=2))
    await session.execute(update(AuctionEvent).where(_event(auction_id, -2)).values(seq=3))


async def forge_the_head(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(update(Auction).where(Auction.id == auction_id).values(last_hash="e" * 64))


async def roll_back_the_head_seq(session: AsyncSession, auction_id: uuid.UUID) -> None:
    await session.execute(update(Auction).where(Auction.id == auction_id).values(seq=2))


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        pytest.param(edit_a_bid_amount, 3, id="a bid amount edited"),
        pytest.param(remove_a_middle_event, 2, id="a middle event removed"),
        pytest.param(remove_the_last_event, 4, id="the last event removed"),
        pytest.param(remove_the_whole_log, 1, id="the whole log removed"),
        pytest.param(recompute_nothing_but_the_hash, 4, id="a hash overwritten"),
        pytest.param(backdate_an_event, 2, id="an event backdated"),
        pytest.param(swap_two_events, 2, id="two events swapped"),
        pytest.param(forge_the_head, 5, id="the auction head forged"),
        pytest.param(roll_back_the_head_seq, 5, id="the head seq rolled back"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_kind_of_chain_tampering_is_a_break(
    client: Client, settings: Settings, tamper: Tamper, broken_at: int
) -> None:
    auction_id = await round_with_bids(client, settings)
    async with direct_db(settings) as session:
        assert (await verify_records(session)).ok
        await tamper(session, auction_id)
        report = await verify_records(session)
        await session.rollback()
        assert (await verify_records(session)).ok
    assert not report.ok
    assert [(b.auction_id, b.broken_at_seq) for b in report.chain_breaks] == [(auction_id, broken_at)]
    assert report.ledger.ok


async def _ledger_account(session: AsyncSession, code: str) -> uuid.UUID:
    account = LedgerAccount(code=code, kind=code.split(":")[0], currency="CNY")
    session.add(account)
    await session.flush()
    return account.id


async def post_an_unbalanced_transaction(session: AsyncSession) -> None:
    debit = await _ledger_account(session, f"escrow:test-{uuid.uuid4().hex[:6]}:CNY")
    credit = await _ledger_account(session, f"revenue:test-{uuid.uuid4().hex[:6]}:CNY")
    transaction = LedgerTransaction(ref=f"forged:{uuid.uuid4()}", memo="forged")
    session.add(transaction)
    await session.flush()
    session.add_all(
        [
            LedgerEntry(transaction_id=transaction.id, account_id=debit, amount=100_00, currency="CNY"),
            LedgerEntry(transaction_id=transaction.id, account_id=credit, amount=-99_00, currency="CNY"),
        ]
    )
    await session.flush()


async def _without_ledger_triggers(session: AsyncSession) -> None:
    """What someone with the database's superuser could do: bypass the ledger's constraint triggers."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL session_replication_role = replica"))


async def test_an_unbalanced_ledger_transaction_is_a_break(client: Client, settings: Settings) -> None:
    async with direct_db(settings) as session:
        assert (await verify_records(session)).ok
        await _without_ledger_triggers(session)
        await post_an_unbalanced_transaction(session)
        report = await verify_records(session)
        await session.rollback()
    assert not report.ok
    assert not report.ledger.ok
    assert "does not balance" in report.ledger.summary
    assert report.chain_breaks == ()


def run_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketplace", "verify"],
        env=app_env(DATABASE_URL=database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_verify_command_exits_non_zero_and_says_what_broke(
    client: Client, settings: Settings
) -> None:
    auction_id = await round_with_bids(client, settings)
    sound = run_verify(settings.database_url)
    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert "OK: every record verifies" in sound.stdout
    assert "hash chains" in sound.stdout

    async with direct_db(settings) as session:
        await edit_a_bid_amount(session, auction_id)
        await _without_ledger_triggers(session)
        await post_an_unbalanced_transaction(session)
        await session.commit()
    broken = run_verify(settings.database_url)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"BROKEN: auction {auction_id} at seq 3: hash does not match" in broken.stdout
    assert "does not balance" in broken.stdout
    assert "FAILED" in broken.stdout
