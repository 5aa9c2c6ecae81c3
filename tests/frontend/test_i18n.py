"""Every string a page shows has both languages; the language follows the request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frontend.i18n import ERROR_MESSAGES, MESSAGES, error_message, negotiate, script_messages, translate
from frontend.pages.room import SCRIPT_KEYS

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
LITERAL_KEY = re.compile(r"""\bt\(\s*'([a-z_]+(?:\.[a-z0-9_]+)+)'""")
PREFIX_KEY = re.compile(r"""\bt\(\s*'([a-z_]+(?:\.[a-z0-9_]+)*\.)'\s*~""")
PYTHON_KEY = re.compile(r"""\.t\(\s*"([a-z_]+(?:\.[a-z0-9_]+)+)"\s*[,)]""")


def _template_keys() -> set[str]:
    keys: set[str] = set()
    for template in (FRONTEND / "templates").rglob("*.html"):
        keys.update(LITERAL_KEY.findall(template.read_text()))
    for module in (FRONTEND / "pages").glob("*.py"):
        keys.update(PYTHON_KEY.findall(module.read_text()))
    return keys


def test_the_templates_use_only_known_keys() -> None:
    unknown = sorted(_template_keys() - set(MESSAGES))
    assert not unknown, unknown


def test_every_prefix_a_template_builds_keys_from_exists() -> None:
    prefixes = set()
    for template in (FRONTEND / "templates").rglob("*.html"):
        prefixes.update(PREFIX_KEY.findall(template.read_text()))
    assert prefixes
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in MESSAGES), prefix


def test_both_languages_say_something_with_the_same_placeholders() -> None:
    broken = [
        key
        for key, (zh, en) in {**MESSAGES, **ERROR_MESSAGES}.items()
        if not zh.strip()
        or not en.strip()
        or set(re.findall(r"\{(\w+)\}", zh)) != set(re.findall(r"\{(\w+)\}", en))
    ]
    assert not broken, broken


@pytest.mark.parametrize(
    ("query", "cookie", "lang"),
    [
        pytest.param(None, None, "zh", id="chinese-first"),
        pytest.param("en", None, "en", id="query"),
        pytest.param(None, "en", "en", id="cookie"),
        pytest.param("zh", "en", "zh", id="query-beats-cookie"),
        pytest.param("fr", None, "zh", id="unknown-falls-back"),
    ],
)
def test_the_language_is_negotiated(query: str | None, cookie: str | None, lang: str) -> None:
    assert negotiate(query, cookie) == lang


def test_an_unknown_error_code_shows_the_apis_detail() -> None:
    assert error_message("zh", "some_new_code", "the API's detail") == "the API's detail"
    assert error_message("en", "bid_too_low").startswith("Too low")
    assert translate("zh", "room.extensions", n=3) == "延时 3 次"


@pytest.mark.parametrize(
    "code",
    [
        "deposit_required",
        "auction_not_open",
        "auction_closed",
        "bid_too_low",
        "bad_increment",
        "not_allowed_to_bid",
        "already_leading",
    ],
)
def test_every_rejection_code_of_the_api_has_a_message(code: str) -> None:
    assert code in ERROR_MESSAGES


def test_the_live_room_gets_every_message_it_uses() -> None:
    script = (FRONTEND / "static" / "live.js").read_text()
    used = set(re.findall(r"""\bt\("([a-z_]+\.[a-z0-9_.]+)\"""", script))
    used |= {f"astatus.{status}" for status in ("scheduled", "open", "closed", "failed", "sold", "defaulted")}
    assert used <= set(SCRIPT_KEYS)
    messages = script_messages("en", SCRIPT_KEYS)
    assert messages["error.bid_too_low"].startswith("Too low")
