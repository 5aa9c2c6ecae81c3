"""The application context: every long-lived collaborator, built once in ``create_app``.

Handlers reach collaborators through dependencies that read this object from the app state, so
tests can build apps with their own settings and fakes. Optional collaborators that later
capabilities add (publisher, payment gateway, registry adapter, sequencer, scheduler) live in
``services`` under their names, set by the wiring code, never imported globals.

A plain class on purpose: Litestar passes it through dependency injection untouched.
"""

from __future__ import annotations

from typing import Any

from litestar.stores.base import Store
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from marketplace.accounts.security import IdNumberCipher, TokenService
from marketplace.settings import Settings


class AppContext:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: Store,
        tokens: TokenService,
        cipher: IdNumberCipher,
        redis: Redis | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.store = store
        self.tokens = tokens
        self.cipher = cipher
        self.redis = redis
        self.services: dict[str, Any] = {}
