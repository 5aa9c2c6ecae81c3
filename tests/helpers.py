"""Helpers shared by the tests: demo accounts and sign-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.db import make_engine, make_sessionmaker
from marketplace.settings import Settings

DEMO_PASSWORD = "demo-pass-2026"


async def bearer(client: AsyncTestClient[Any], email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """Authorization headers for a demo (or freshly made) account."""
    response = await client.post("/api/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


OPERATOR = "operator@exchange.demo"
BANK_A = "bank-a@bank.demo"
BANK_B = "bank-b@bank.demo"
GUARANTOR = "guarantor@party.demo"
POOL = "pool@party.demo"
ACQUIRER = "acquirer@party.demo"
BUYERS = ("buyer1@buyer.demo", "buyer2@buyer.demo", "buyer3@buyer.demo")


@asynccontextmanager
async def direct_db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on the test's own event loop (the app under test runs on another one)."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()
