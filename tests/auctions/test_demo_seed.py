"""`make run` seeds a demo round that a person can bid in at once; seeding twice adds nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace.__main__ import _seed
from marketplace.auctions.models import Auction, Deposit
from marketplace.migrate import upgrade
from marketplace.settings import Settings
from tests.helpers import direct_db


@pytest.mark.parametrize("rules", ["spc2016", "sandbox"])
def test_the_demo_round_is_seeded_once_with_two_held_bidders(tmp_path: Path, rules: str) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", auction_rules=rules)
    upgrade(settings.database_url)
    asyncio.run(_seed(settings))
    asyncio.run(_seed(settings))

    async def counts() -> tuple[int, int, str]:
        async with direct_db(settings) as session:
            rounds = await session.scalar(select(func.count()).select_from(Auction))
            held = await session.scalar(
                select(func.count()).select_from(Deposit).where(Deposit.status == "held")
            )
            profile = await session.scalar(select(Auction.rules_profile))
            return int(rounds or 0), int(held or 0), str(profile)

    assert asyncio.run(counts()) == (1, 2, rules)
