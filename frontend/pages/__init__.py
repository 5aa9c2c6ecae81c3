"""The server-rendered pages: what ``marketplace.app.create_app`` wires in.

``template_config()`` (Jinja2 over ``frontend/templates`` with the money and time filters),
``static_files_router()`` (``/static``: vendored htmx, the page scripts, the stylesheet) and
:data:`CONTROLLERS` (every page). Pages call the marketplace services with the request's
session and never query the database themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from jinja2 import Environment
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from frontend import formatting
from frontend.pages import base
from frontend.pages.auth import AuthPages
from frontend.pages.bank import BankPages
from frontend.pages.buyer import BuyerPages
from frontend.pages.catalogue import CataloguePages
from frontend.pages.operator import OperatorPages
from frontend.pages.room import RoomPages

FRONTEND_DIR: Final = Path(__file__).resolve().parent.parent
TEMPLATES_DIR: Final = FRONTEND_DIR / "templates"
STATIC_DIR: Final = FRONTEND_DIR / "static"

CONTROLLERS: Final[list[Any]] = [AuthPages, CataloguePages, RoomPages, BuyerPages, BankPages, OperatorPages]


def _register_filters(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.filters["money"] = formatting.format_money
    env.filters["bp"] = formatting.format_bp
    env.filters["dt"] = formatting.format_datetime
    env.filters["date"] = formatting.format_date
    env.filters["iso"] = formatting.iso_utc
    env.filters["yuan"] = formatting.format_plain_amount
    env.filters["duration"] = formatting.format_duration
    env.filters["by_asset"] = base.by_asset
    env.globals["label"] = base.label
    env.trim_blocks = True
    env.lstrip_blocks = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_register_filters
    )


def static_files_router() -> Router:
    return create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(max_age=300, public=True),
        include_in_schema=False,
    )
