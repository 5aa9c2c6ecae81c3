"""Every main page: labelled controls, one h1, a language, light script, readable colours."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.frontend.conftest import LiveApp, running_app, sign_in

SCRIPT_BUDGET = 200 * 1024


@pytest.fixture(scope="module")
def live_app(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """One app for the whole module: these tests only read."""
    with running_app(tmp_path_factory.mktemp("a11y")) as app:
        yield app


CSS = (Path(__file__).resolve().parents[2] / "frontend" / "static" / "app.css").read_text()

AUDIT = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (el.type === 'hidden' || el.closest('[hidden]')) continue;
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
    if (!labelled) problems.push('unlabelled ' + el.tagName + ' ' + (el.name || el.id));
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (parseInt(el.getAttribute('tabindex'), 10) > 0) problems.push('positive tabindex on ' + el.id);
  }
  for (const el of document.querySelectorAll('[onclick], [onload], [onchange], [onsubmit], [style]')) {
    problems.push('inline handler or style on ' + el.tagName);
  }
  for (const el of document.querySelectorAll('script')) {
    if (!el.src) problems.push('inline script');
  }
  const headings = document.querySelectorAll('h1').length;
  if (headings !== 1) problems.push('h1 count ' + headings);
  if (!document.documentElement.lang) problems.push('no lang');
  const ids = [...document.querySelectorAll('[id]')].map(el => el.id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupes.length) problems.push('duplicate ids ' + dupes.join(','));
  return problems;
}"""

PAGES = [
    pytest.param(None, "/", id="catalogue"),
    pytest.param(None, "/login", id="login"),
    pytest.param(None, "/register", id="register"),
    pytest.param(None, "LOT", id="lot"),
    pytest.param(None, "ROOM", id="room-visitor"),
    pytest.param("buyer1@buyer.demo", "ROOM", id="room-buyer"),
    pytest.param("buyer1@buyer.demo", "/me", id="buyer-area"),
    pytest.param("bank-a@bank.demo", "/bank", id="bank-desk"),
    pytest.param("bank-a@bank.demo", "/bank/listings/new", id="bank-wizard"),
    pytest.param("bank-a@bank.demo", "/bank/import", id="bank-import"),
    pytest.param("bank-a@bank.demo", "/bank/offers", id="bank-offers"),
    pytest.param("operator@exchange.demo", "/operator", id="operator-queue"),
    pytest.param("operator@exchange.demo", "REVIEW", id="operator-review"),
    pytest.param("operator@exchange.demo", "/operator/deposits", id="operator-deposits"),
    pytest.param("operator@exchange.demo", "/operator/live", id="operator-live"),
    pytest.param("operator@exchange.demo", "/operator/stats", id="operator-stats"),
]


def _resolve(path: str, live_app: LiveApp) -> str:
    listing = live_app.api("GET", "/api/listings", params={"q": "铝合金挤压"}).json()["items"][0]
    if path == "LOT":
        return f"/lots/{listing['id']}"
    if path == "REVIEW":
        return f"/operator/listings/{listing['id']}"
    if path == "ROOM":
        rounds = live_app.api("GET", f"/api/listings/{listing['id']}").json()["rounds"]
        auction_id = rounds[0]["id"] if rounds else None
        assert auction_id, "the demo seed schedules a round on the approved demo listing"
        return f"/auctions/{auction_id}"
    return path


@pytest.mark.browser
@pytest.mark.parametrize(("email", "path"), PAGES)
def test_a_main_page_is_accessible_and_light(
    new_page: Any, live_app: LiveApp, email: str | None, path: str
) -> None:
    page = new_page()
    if email:
        sign_in(page, email)
    scripts: list[int] = []
    page.on(
        "response", lambda r: scripts.append(len(r.body())) if r.request.resource_type == "script" else None
    )
    response = page.goto(_resolve(path, live_app))
    assert response is not None
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    assert page.evaluate(AUDIT) == []
    assert sum(scripts) <= SCRIPT_BUDGET
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _hex(value: str) -> tuple[float, float, float]:
    value = value.lstrip("#")
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _hex(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _var(name: str) -> str:
    match = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", CSS)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize(
    ("foreground", "background"),
    [
        pytest.param("ink", "bg", id="text"),
        pytest.param("muted", "bg", id="muted-on-page"),
        pytest.param("muted", "panel", id="muted-on-panel"),
        pytest.param("accent", "panel", id="links"),
        pytest.param("ok", "ok-bg", id="ok-alert"),
        pytest.param("err", "err-bg", id="error-alert"),
        pytest.param("warn", "warn-bg", id="warning"),
        pytest.param("brand", "panel", id="price"),
    ],
)
def test_text_colours_meet_wcag_aa(foreground: str, background: str) -> None:
    assert _contrast(_var(foreground), _var(background)) >= 4.5


def test_white_on_the_brand_header_meets_wcag_aa() -> None:
    assert _contrast("#ffffff", _var("brand")) >= 4.5
