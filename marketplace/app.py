"""The composition root: ``create_app(settings)`` is the one place everything is wired.

Nothing is read from the environment here; ``marketplace.__main__`` reads it once and passes
``Settings`` in. The embedded set-up (SQLite, file store, in-process fan-out) and the production
set-up (PostgreSQL, Redis) differ only in what this function builds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.stores.base import Store
from litestar.stores.file import FileStore

from auction.errors import AuctionError
from frontend import pages as frontend_pages
from marketplace.accounts.routes import AccountsController, AuthController
from marketplace.accounts.security import IdNumberCipher, TokenService
from marketplace.auctions import fastpath as bid_fast_path
from marketplace.auctions.live import LiveAuctions
from marketplace.auctions.payments import gateway_factory
from marketplace.auctions.routes import AuctionController, live_feed
from marketplace.context import AppContext
from marketplace.db import make_engine, make_sessionmaker
from marketplace.deps import provide_ctx, provide_db, provide_principal
from marketplace.errors import document_problems, exception_handlers
from marketplace.health import health
from marketplace.idempotency import IdempotencyMiddleware
from marketplace.listings.routes import LISTING_CONTROLLERS
from marketplace.logging import RequestIdMiddleware, configure_logging
from marketplace.money import CurrencyMismatch, UnknownCurrency
from marketplace.offers.routes import OFFER_CONTROLLERS
from marketplace.registry.routes import REGISTRY_CONTROLLERS
from marketplace.registry.store import registry_for_app
from marketplace.resilience import FallbackStore, ResilientPubSubBackend, breaker_for
from marketplace.security import security_headers
from marketplace.settings import Settings
from marketplace.settlement import SettlementInvalid
from marketplace.settlement.routes import SETTLEMENT_CONTROLLERS
from marketplace.webhooks import stripe_webhook
from registry_adapters.base import RegistryError


def _make_store(settings: Settings, redis: Any) -> Store:
    if redis is not None:
        from litestar.stores.redis import RedisStore

        return FallbackStore(RedisStore(redis, namespace="mp"), breaker_for(redis))
    return FileStore(settings.data_dir / "store", create_directories=True)


def _channels_backend(ctx: AppContext) -> ChannelsBackend:
    if ctx.redis is not None:
        return ResilientPubSubBackend(ctx.redis)
    return MemoryChannelsBackend()


def build_context(settings: Settings) -> AppContext:
    redis = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
    engine = make_engine(settings.database_url)
    store = _make_store(settings, redis)
    return AppContext(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        store=store,
        tokens=TokenService(store, settings.token_ttl_seconds, settings.session_ttl_seconds),
        cipher=IdNumberCipher(settings.resolved_secret_key()),
        redis=redis,
    )


def create_app(settings: Settings) -> Litestar:
    configure_logging(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = build_context(settings)
    ctx.services["registry"] = registry_for_app(
        ctx.sessionmaker, sandbox_enabled=settings.sandbox_registry_enabled
    )
    ctx.services["gateways"] = gateway_factory(settings)
    channels = ChannelsPlugin(
        backend=_channels_backend(ctx),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=2048,
        subscriber_backlog_strategy="dropleft",
    )
    live = LiveAuctions(ctx, channels)
    ctx.services["live"] = live

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        live.start()
        try:
            yield
        finally:
            await live.stop()
            if ctx.redis is not None:
                await ctx.redis.aclose()
            await ctx.engine.dispose()

    openapi = OpenAPIConfig(
        title="IP disposal marketplace (质物处置专门版块)",
        version="1.0.0",
        description=(
            "Disposal of defaulted pledged intellectual property: listings, auctions, offers, settlement."
        ),
        path="/schema",
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")},
        ),
        security=[{"bearer": []}, {}],
    )
    app = Litestar(
        route_handlers=[
            health,
            AuthController,
            AccountsController,
            AuctionController,
            live_feed,
            stripe_webhook,
            *LISTING_CONTROLLERS,
            *REGISTRY_CONTROLLERS,
            *OFFER_CONTROLLERS,
            *SETTLEMENT_CONTROLLERS,
            *frontend_pages.CONTROLLERS,
            frontend_pages.static_files_router(),
        ],
        template_config=frontend_pages.template_config(),
        dependencies={
            "ctx": Provide(provide_ctx, sync_to_thread=False),
            "db": Provide(provide_db),
            "principal": Provide(provide_principal),
        },
        exception_handlers=exception_handlers(
            extra_coded=(AuctionError, SettlementInvalid, CurrencyMismatch, UnknownCurrency, RegistryError)
        ),
        middleware=[RequestIdMiddleware, DefineMiddleware(IdempotencyMiddleware, ctx=ctx)],
        plugins=[channels],
        openapi_config=openapi,
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        state=None,
        debug=False,
    )
    app.state.ctx = ctx
    document_problems(app)
    # the security headers, the live feed's sends and the bid lane (marketplace/auctions/fastpath.py)
    bid_fast_path.install(app, ctx, security_headers(settings), lane=settings.bid_fast_path)
    return app
