"""Command line: ``python -m marketplace migrate | seed | serve | verify | check-services``.

This is the one place (with ``migrations/env.py``) that reads the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from marketplace.settings import Settings


async def _seed(settings: Settings, *, demo_auction: bool = True) -> None:
    from marketplace.app import build_context
    from marketplace.auctions.demo import seed_demo_auction
    from marketplace.db import session_scope
    from marketplace.seed import seed_demo

    ctx = build_context(settings)
    try:
        async for session in session_scope(ctx.sessionmaker):
            await seed_demo(session, settings, ctx.cipher)
        if demo_auction:
            async for session in session_scope(ctx.sessionmaker):
                await seed_demo_auction(session, settings)
    finally:
        await ctx.engine.dispose()
        if ctx.redis is not None:
            await ctx.redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marketplace")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="alembic upgrade head on DATABASE_URL (or the embedded SQLite file)")
    sub.add_parser("seed", help="seed the demo data (idempotent)")
    sub.add_parser("verify", help="check every auction's hash chain and the ledger; non-zero exit on a break")
    serve = sub.add_parser("serve", help="serve the app with uvicorn")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("INSECURE_FAST_PASSWORD_HASHING") == "1":  # test suites and benchmarks only
        from marketplace.accounts.security import use_fast_hashing

        use_fast_hashing()

    if args.command == "migrate":
        from marketplace.migrate import upgrade

        upgrade(settings.database_url)
        return 0
    if args.command == "seed":
        asyncio.run(_seed(settings))
        return 0
    if args.command == "verify":
        from marketplace.verify import format_report, verify_database

        report = asyncio.run(verify_database(settings))
        print(format_report(report))
        return 0 if report.ok else 1
    if args.command == "serve":
        import uvicorn

        from marketplace.app import create_app

        app = create_app(settings)
        uvicorn.run(
            app,
            host=args.host or settings.host,
            port=args.port or settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            proxy_headers=True,
            ws_max_size=65536,
        )
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
