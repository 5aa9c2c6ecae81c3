"""The authorization matrix: every route of the app, every role, the outcome each role must get.

ONE table (:data:`MATRIX`) lists every route the app serves; :func:`test_the_matrix_lists_every_route`
fails when the app has a route the table does not list (or the table a route the app lost). Each
row is requested once per role, in the order of :data:`ROLES`, against one shared world (a
published listing with a live round, a registered bidder, an offer, a document, a sold and settled
listing with its filings) and the outcome is compared with the row:

- ``ok``: the role is let through (2xx, a redirect that is not to the sign-in page, or a 409/422
  that says the state or the input is wrong, which only an authorised caller may learn);
- ``401``: asked to sign in (401, or a page's redirect to ``/login``);
- ``403``: refused for its role or a rule (403);
- ``404``: not told the thing exists (404);
- ``400``: refused before any caller is considered (the webhook's signature).

Roles: anonymous; ``buyer`` (registered for the round with a held deposit, the offeror, the winner
of the sold round); ``other_buyer`` (no stake); ``bank`` (a user of the listing's bank);
``other_bank``; ``party`` (a user of the guarantor, a settlement party of the listings);
``operator``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from tests.auctions.factories import registered_bidder, schedule, wait_until
from tests.helpers import BANK_A, BANK_B, BUYERS, DEMO_PASSWORD, GUARANTOR, OPERATOR
from tests.listings.support import (
    asset,
    clean_listing,
    draft_body,
    org_ids,
    published_listing,
)
from tests.settlement_service.factories import FRONT_LOADED, confirm_transfer, listing_with_terms, sold_round

ROLES = ("anonymous", "other_buyer", "other_bank", "party", "buyer", "bank", "operator")
EMAILS = {
    "buyer": BUYERS[0],
    "other_buyer": BUYERS[1],
    "bank": BANK_A,
    "other_bank": BANK_B,
    "party": GUARANTOR,
    "operator": OPERATOR,
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CSV = (
    "title,loan_ref,pledgor_name,claim,default_date,pledge_registry,pledge_registration_no,"
    "valuation_amount,valuation_method,bank_ratio_bp,asset1_kind,asset1_number,asset1_title\n"
    "Matrix lot,LN-M-1,矩阵公司,100000000,2026-09-30,cnipa,Y-M-1,120000000,internal,10000,"
    "invention_patent,CN202110000001.X,Matrix patent\n"
).encode()


@dataclass
class World:
    listing: str = ""
    draft: str = ""
    withdrawable: str = ""
    auction: str = ""
    deposit: str = ""
    offer: str = ""
    document: str = ""
    import_job: str = ""
    sold: str = ""
    sold_auction: str = ""
    filing: str = ""
    org: str = ""
    evidence: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)


Body = Callable[[World], Any] | None


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    expect: dict[str, str]
    path: Callable[[World], str] | None = None
    json: Body = None
    files: Callable[[World], dict[str, Any]] | None = None
    form: dict[str, str] | None = None
    page: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"


def roles(spec: str) -> dict[str, str]:
    """``"anonymous:401 operator:ok *:403"`` → an outcome per role (``*`` for the rest)."""
    pairs = dict(part.split(":") for part in spec.split())
    rest = pairs.pop("*", None)
    outcome = {role: pairs.get(role, rest or "") for role in ROLES}
    missing = [role for role, value in outcome.items() if not value]
    assert not missing, f"{spec!r} leaves {missing} without an outcome"
    return outcome


PUBLIC = "*:ok"
SIGNED_IN = "anonymous:401 *:ok"
OPERATOR_ONLY = "anonymous:401 operator:ok *:403"
BANK_ONLY = "anonymous:401 bank:ok other_bank:ok *:403"
CONFIDENTIAL = "anonymous:401 bank:ok party:ok operator:ok *:404"
OWNER_OR_OPERATOR = "anonymous:401 bank:ok operator:ok *:403"
OWN_DRAFT = "anonymous:401 bank:ok other_bank:404 *:403"
OWN_DRAFT_OR_OPERATOR = "anonymous:401 bank:ok operator:ok other_bank:404 *:403"
OWN_IMPORT = "anonymous:401 bank:ok operator:ok other_bank:404 *:403"
PARTIES = "anonymous:401 bank:ok party:ok operator:ok *:403"
ANY_BUYER = "anonymous:401 buyer:ok other_buyer:ok *:403"
REGISTERED_BUYER = "anonymous:401 buyer:ok *:403"
WINNER_BANK_OPERATOR = "buyer:ok bank:ok operator:ok *:404"
OFFER_READERS = "buyer:ok bank:ok operator:ok *:404"
OFFER_BANK = "anonymous:401 bank:ok buyer:403 operator:403 *:404"
OFFEROR = "anonymous:401 buyer:ok bank:403 operator:403 *:404"
PAGE_CONFIRMATION = "anonymous:401 buyer:ok bank:ok operator:ok *:404"
OWN_BANK_PAGE = "anonymous:401 bank:ok other_bank:404 *:403"
OWN_LISTING_PAGE = "anonymous:401 bank:ok *:403"


def row(method: str, route: str, spec: str, path: Callable[[World], str] | None = None, **kw: Any) -> Row:
    return Row(method, route, roles(spec), path, **kw)


def listing_draft(w: World) -> dict[str, Any]:
    return draft_body(w.orgs, [asset(w.record)], w.record["pledges"][0]["registration_no"])


MATRIX: tuple[Row, ...] = (
    # operations and documentation
    row("GET", "/health", PUBLIC),
    row("GET", "/schema", PUBLIC),
    row("GET", "/schema/openapi.json", PUBLIC),
    row("GET", "/schema/openapi.yaml", PUBLIC),
    row("GET", "/schema/openapi.yml", PUBLIC),
    row("GET", "/schema/redoc", PUBLIC),
    row("GET", "/schema/swagger", PUBLIC),
    row("GET", "/schema/elements", PUBLIC),
    row("GET", "/schema/rapidoc", PUBLIC),
    row("GET", "/schema/oauth2-redirect.html", PUBLIC),
    row("GET", "/schema/{path:str}", "*:404", lambda w: "/schema/no-such-renderer"),
    row("GET", "/static/{file_path:path}", PUBLIC, lambda w: "/static/app.js"),
    # accounts
    row("POST", "/api/auth/token", PUBLIC, json=lambda w: {"email": BUYERS[2], "password": DEMO_PASSWORD}),
    row("POST", "/api/auth/login", PUBLIC, json=lambda w: {"email": BUYERS[2], "password": DEMO_PASSWORD}),
    row(
        "POST",
        "/api/buyers/register",
        PUBLIC,
        json=lambda w: {
            "email": f"m-{uuid.uuid4().hex[:10]}@buyer.demo",
            "password": "long-enough-pw",
            "real_name": "矩阵测试",
            "id_number": "ID-0001",
        },
    ),
    row("GET", "/api/me", SIGNED_IN),
    row("GET", "/api/orgs", SIGNED_IN),
    row(
        "POST",
        "/api/orgs",
        OPERATOR_ONLY,
        json=lambda w: {"name": f"Org {uuid.uuid4().hex[:8]}", "kind": "valuer"},
    ),
    row(
        "POST",
        "/api/orgs/{org_id:uuid}/users",
        OPERATOR_ONLY,
        lambda w: f"/api/orgs/{w.org}/users",
        json=lambda w: {
            "email": f"u-{uuid.uuid4().hex[:8]}@party.demo",
            "password": "long-enough-pw",
            "name": "U",
        },
    ),
    # listings
    row("GET", "/api/listings", PUBLIC),
    row("POST", "/api/listings", BANK_ONLY, json=listing_draft),
    row("GET", "/api/listings/{listing_id:uuid}", PUBLIC, lambda w: f"/api/listings/{w.listing}"),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/submit",
        OWN_DRAFT,
        lambda w: f"/api/listings/{w.draft}/submit",
    ),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/approve",
        OPERATOR_ONLY,
        lambda w: f"/api/listings/{w.listing}/approve",
    ),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/reject",
        OPERATOR_ONLY,
        lambda w: f"/api/listings/{w.listing}/reject",
        json=lambda w: {"reason": "matrix"},
    ),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/withdraw",
        OWNER_OR_OPERATOR,
        lambda w: f"/api/listings/{w.withdrawable}/withdraw",
        json=lambda w: {"reason": "matrix"},
    ),
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/transitions",
        PARTIES,
        lambda w: f"/api/listings/{w.listing}/transitions",
    ),
    row("GET", "/api/review-queue", OPERATOR_ONLY),
    row(
        "POST",
        "/api/listings/import",
        BANK_ONLY,
        files=lambda w: {"file": ("listings.csv", CSV, "text/csv")},
    ),
    row(
        "GET",
        "/api/listings/import/{job_id:uuid}",
        OWN_IMPORT,
        lambda w: f"/api/listings/import/{w.import_job}",
    ),
    row("POST", "/api/listings/{listing_id:uuid}/nda", SIGNED_IN, lambda w: f"/api/listings/{w.listing}/nda"),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/documents",
        OWNER_OR_OPERATOR,
        lambda w: f"/api/listings/{w.listing}/documents",
        files=lambda w: {"file": ("matrix.pdf", PDF, "application/pdf")},
    ),
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/documents",
        SIGNED_IN,
        lambda w: f"/api/listings/{w.listing}/documents",
    ),
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/documents/{document_id:uuid}",
        SIGNED_IN,
        lambda w: f"/api/listings/{w.listing}/documents/{w.document}",
    ),
    # sandbox registry and manual evidence
    row("POST", "/api/registry/sandbox/records", OPERATOR_ONLY, json=lambda w: w.record),
    row(
        "GET",
        "/api/registry/sandbox/records/{registry:str}/{number:str}",
        OPERATOR_ONLY,
        lambda w: f"/api/registry/sandbox/records/{w.record['registry']}/{w.record['number']}",
    ),
    row(
        "POST",
        "/api/registry/manual",
        OPERATOR_ONLY,
        json=lambda w: {
            **{k: w.record[k] for k in ("registry", "number", "kind", "title", "holder", "status")},
            "document_sha256": "a" * 64,
        },
    ),
    row(
        "POST",
        "/api/registry/manual/{evidence_id:uuid}/approve",
        OPERATOR_ONLY,
        lambda w: f"/api/registry/manual/{w.evidence}/approve",
    ),
    # auctions
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/auctions",
        OPERATOR_ONLY,
        lambda w: f"/api/listings/{w.listing}/auctions",
        json=lambda w: {
            "kind": "auction",
            "starting_price": 84_000_000,
            "increment": 1_000_000,
            "deposit": 8_400_000,
            "starts_at": "2030-01-01T08:00:00Z",
            "ends_at": "2030-01-02T08:00:00Z",
        },
    ),
    row("GET", "/api/auctions/{auction_id:uuid}", PUBLIC, lambda w: f"/api/auctions/{w.auction}"),
    row("GET", "/api/auctions/{auction_id:uuid}/bids", PUBLIC, lambda w: f"/api/auctions/{w.auction}/bids"),
    row("GET", "/api/auctions/{auction_id:uuid}/log", PUBLIC, lambda w: f"/api/auctions/{w.auction}/log"),
    row(
        "POST",
        "/api/auctions/{auction_id:uuid}/registrations",
        ANY_BUYER,
        lambda w: f"/api/auctions/{w.auction}/registrations",
        json=lambda w: {"payment": "offline"},
    ),
    row(
        "POST",
        "/api/deposits/{deposit_id:uuid}/confirm",
        OPERATOR_ONLY,
        lambda w: f"/api/deposits/{w.deposit}/confirm",
    ),
    row(
        "POST",
        "/api/auctions/{auction_id:uuid}/bids",
        REGISTERED_BUYER,
        lambda w: f"/api/auctions/{w.auction}/bids",
        json=lambda w: {"amount": 84_000_000},
    ),
    row(
        "POST",
        "/api/auctions/{auction_id:uuid}/close",
        OPERATOR_ONLY,
        lambda w: f"/api/auctions/{w.auction}/close",
    ),
    row(
        "POST",
        "/api/auctions/{auction_id:uuid}/default",
        OPERATOR_ONLY,
        lambda w: f"/api/auctions/{w.auction}/default",
    ),
    row(
        "POST",
        "/api/auctions/{auction_id:uuid}/balance-paid",
        OPERATOR_ONLY,
        lambda w: f"/api/auctions/{w.auction}/balance-paid",
    ),
    row(
        "GET",
        "/api/auctions/{auction_id:uuid}/confirmation",
        WINNER_BANK_OPERATOR,
        lambda w: f"/api/auctions/{w.sold_auction}/confirmation",
    ),
    row("POST", "/api/payments/stripe/webhook", "*:400", json=lambda w: {"id": "evt_forged"}),
    # offers
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/offers",
        SIGNED_IN,
        lambda w: f"/api/listings/{w.listing}/offers",
    ),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/offers",
        ANY_BUYER,
        lambda w: f"/api/listings/{w.listing}/offers",
        json=lambda w: {
            "kind": "acquisition",
            "amount": 90_000_000,
            "terms": {"payment_days": 30},
            "valid_until": "2030-01-01T00:00:00Z",
        },
    ),
    row("GET", "/api/offers/{offer_id:uuid}", OFFER_READERS, lambda w: f"/api/offers/{w.offer}"),
    row(
        "POST",
        "/api/offers/{offer_id:uuid}/counter",
        OFFER_BANK,
        lambda w: f"/api/offers/{w.offer}/counter",
        json=lambda w: {"amount": 95_000_000},
    ),
    row(
        "POST",
        "/api/offers/{offer_id:uuid}/accept-counter",
        OFFEROR,
        lambda w: f"/api/offers/{w.offer}/accept-counter",
    ),
    row("POST", "/api/offers/{offer_id:uuid}/accept", OFFER_BANK, lambda w: f"/api/offers/{w.offer}/accept"),
    row(
        "POST",
        "/api/offers/{offer_id:uuid}/reject",
        OFFER_BANK,
        lambda w: f"/api/offers/{w.offer}/reject",
        json=lambda w: {"reason": "matrix"},
    ),
    row(
        "POST",
        "/api/offers/{offer_id:uuid}/approve",
        OPERATOR_ONLY,
        lambda w: f"/api/offers/{w.offer}/approve",
    ),
    row(
        "POST",
        "/api/offers/{offer_id:uuid}/payment-received",
        OPERATOR_ONLY,
        lambda w: f"/api/offers/{w.offer}/payment-received",
    ),
    row(
        "POST",
        "/api/offers/{offer_id:uuid}/royalties",
        OPERATOR_ONLY,
        lambda w: f"/api/offers/{w.offer}/royalties",
        json=lambda w: {"amount": 1_000_000, "period": "2030-Q1"},
    ),
    # settlement and registry filings
    row(
        "POST",
        "/api/settlement/preview",
        SIGNED_IN,
        json=lambda w: {
            "currency": "CNY",
            "hammer": 100_000_000,
            "claim": 100_000_000,
            "costs": [],
            "parties": [{"role": "bank", "ratio_bp": 10_000}],
            "advances": [],
        },
    ),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/settle",
        OPERATOR_ONLY,
        lambda w: f"/api/listings/{w.sold}/settle",
    ),
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/settlement",
        CONFIDENTIAL,
        lambda w: f"/api/listings/{w.sold}/settlement",
    ),
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/settlement.csv",
        CONFIDENTIAL,
        lambda w: f"/api/listings/{w.sold}/settlement.csv",
    ),
    row(
        "GET",
        "/api/listings/{listing_id:uuid}/settlement.pdf",
        CONFIDENTIAL,
        lambda w: f"/api/listings/{w.sold}/settlement.pdf",
    ),
    row(
        "GET", "/api/listings/{listing_id:uuid}/filings", PARTIES, lambda w: f"/api/listings/{w.sold}/filings"
    ),
    row(
        "POST",
        "/api/listings/{listing_id:uuid}/filings",
        OPERATOR_ONLY,
        lambda w: f"/api/listings/{w.sold}/filings",
        json=lambda w: {"transferee": "李四 Li Si"},
    ),
    row(
        "POST",
        "/api/filings/{filing_id:uuid}/confirm",
        OPERATOR_ONLY,
        lambda w: f"/api/filings/{w.filing}/confirm",
        json=lambda w: {},
    ),
    # pages (server-rendered; bearer callers are let in like cookie sessions)
    row("GET", "/", PUBLIC),
    row("GET", "/login", PUBLIC),
    row("GET", "/register", PUBLIC),
    row("POST", "/login", PUBLIC, json=None, page=True),
    row("POST", "/register", PUBLIC, page=True),
    row("POST", "/logout", PUBLIC, page=True),
    row("GET", "/me", ANY_BUYER),
    row(
        "GET",
        "/me/confirmations/{auction_id:uuid}",
        PAGE_CONFIRMATION,
        lambda w: f"/me/confirmations/{w.sold_auction}",
    ),
    row("GET", "/lots/{listing_id:uuid}", PUBLIC, lambda w: f"/lots/{w.listing}"),
    row("GET", "/lots/{listing_id:uuid}/documents", PUBLIC, lambda w: f"/lots/{w.listing}/documents"),
    row("POST", "/lots/{listing_id:uuid}/nda", SIGNED_IN, lambda w: f"/lots/{w.listing}/nda", page=True),
    row("GET", "/auctions/{auction_id:uuid}", PUBLIC, lambda w: f"/auctions/{w.auction}"),
    row(
        "GET",
        "/auctions/{auction_id:uuid}/registration",
        PUBLIC,
        lambda w: f"/auctions/{w.auction}/registration",
    ),
    row(
        "POST",
        "/auctions/{auction_id:uuid}/register",
        ANY_BUYER,
        lambda w: f"/auctions/{w.auction}/register",
        page=True,
    ),
    row("GET", "/bank", BANK_ONLY),
    row("GET", "/bank/import", BANK_ONLY),
    row("POST", "/bank/import", BANK_ONLY, page=True),
    row("GET", "/bank/import/template.csv", BANK_ONLY),
    row("GET", "/bank/import/{job_id:uuid}", OWN_BANK_PAGE, lambda w: f"/bank/import/{w.import_job}"),
    row("GET", "/bank/listings/new", BANK_ONLY),
    row("POST", "/bank/listings", BANK_ONLY, page=True),
    row("POST", "/bank/listings/preview", BANK_ONLY, page=True),
    row("GET", "/bank/listings/{listing_id:uuid}", OWN_LISTING_PAGE, lambda w: f"/bank/listings/{w.listing}"),
    row(
        "POST",
        "/bank/listings/{listing_id:uuid}/submit",
        OWN_BANK_PAGE,
        lambda w: f"/bank/listings/{w.draft}/submit",
        page=True,
    ),
    row(
        "POST",
        "/bank/listings/{listing_id:uuid}/withdraw",
        OWN_DRAFT_OR_OPERATOR,
        lambda w: f"/bank/listings/{w.withdrawable}/withdraw",
        form={"reason": "matrix"},
        page=True,
    ),
    row("GET", "/bank/offers", BANK_ONLY),
    row(
        "POST",
        "/bank/offers/{offer_id:uuid}/{action:str}",
        OWN_BANK_PAGE,
        lambda w: f"/bank/offers/{w.offer}/accept",
        page=True,
    ),
    row("GET", "/bank/settlements", BANK_ONLY),
    row("GET", "/bank/settlements/{listing_id:uuid}", OWN_BANK_PAGE, lambda w: f"/bank/settlements/{w.sold}"),
    row(
        "GET",
        "/bank/settlements/{listing_id:uuid}/statement.csv",
        OWN_BANK_PAGE,
        lambda w: f"/bank/settlements/{w.sold}/statement.csv",
    ),
    row("GET", "/operator", OPERATOR_ONLY),
    row("GET", "/operator/live", OPERATOR_ONLY),
    row("GET", "/operator/stats", OPERATOR_ONLY),
    row("GET", "/operator/deposits", OPERATOR_ONLY),
    row(
        "POST",
        "/operator/deposits/{deposit_id:uuid}/confirm",
        OPERATOR_ONLY,
        lambda w: f"/operator/deposits/{w.deposit}/confirm",
        page=True,
    ),
    row(
        "GET",
        "/operator/listings/{listing_id:uuid}",
        OPERATOR_ONLY,
        lambda w: f"/operator/listings/{w.listing}",
    ),
    row(
        "POST",
        "/operator/listings/{listing_id:uuid}/approve",
        OPERATOR_ONLY,
        lambda w: f"/operator/listings/{w.listing}/approve",
        page=True,
    ),
    row(
        "POST",
        "/operator/listings/{listing_id:uuid}/reject",
        OPERATOR_ONLY,
        lambda w: f"/operator/listings/{w.listing}/reject",
        form={"reason": "matrix"},
        page=True,
    ),
    row(
        "POST",
        "/operator/listings/{listing_id:uuid}/schedule",
        OPERATOR_ONLY,
        lambda w: f"/operator/listings/{w.listing}/schedule",
        page=True,
    ),
    row(
        "GET",
        "/operator/listings/{listing_id:uuid}/schedule-check",
        OPERATOR_ONLY,
        lambda w: f"/operator/listings/{w.listing}/schedule-check",
    ),
    row(
        "POST",
        "/operator/listings/{listing_id:uuid}/settle",
        OPERATOR_ONLY,
        lambda w: f"/operator/listings/{w.sold}/settle",
        page=True,
    ),
    row(
        "GET",
        "/operator/settlements/{listing_id:uuid}",
        OPERATOR_ONLY,
        lambda w: f"/operator/settlements/{w.sold}",
    ),
    row(
        "POST",
        "/operator/auctions/{auction_id:uuid}/{action:str}",
        OPERATOR_ONLY,
        lambda w: f"/operator/auctions/{w.auction}/close",
        page=True,
    ),
    # the logout revokes the caller's token: last
    row("POST", "/api/auth/logout", PUBLIC),
)

LIVE_FEED = "/ws/auctions/{auction_id:uuid}"
"""Anyone may watch a round: the websocket takes no caller (checked below, connected to in
tests/auctions/test_live_feed.py)."""


def app_routes(app: Litestar) -> set[str]:
    found: set[str] = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            found |= {
                f"{method} {route.path}" for method in route.methods if method not in ("HEAD", "OPTIONS")
            }
        elif isinstance(route, WebSocketRoute):
            found.add(f"WS {route.path}")
    return found


@pytest.fixture(scope="module")
def matrix_settings(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Settings:
    data_dir = tmp_path_factory.mktemp("matrix")
    shutil.copy(sqlite_template, data_dir / "marketplace.db")
    return Settings(
        data_dir=data_dir,
        secret_key="test-secret",
        scheduler_enabled=False,
        rate_limits_enabled=False,
        auction_rules="sandbox",
        stripe_webhook_secret="whsec_matrix",
    )


async def _token(client: AsyncTestClient[Any], email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = await client.post("/api/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def build_world(client: AsyncTestClient[Any], settings: Settings) -> World:
    w = World(orgs=await org_ids(client))
    w.listing = (await published_listing(client, w.orgs))["id"]
    w.withdrawable = (await published_listing(client, w.orgs))["id"]
    draft, record = await clean_listing(client, w.orgs)
    w.draft, w.org = draft["id"], w.orgs["valuer"]
    w.record = {**record, "number": record["number"] + "-M"}
    auction = await schedule(
        client, uuid.UUID(w.listing), start_in=1.0, duration=3600, starting_price=84_000_000
    )
    w.auction = auction["id"]
    await wait_until(auction["starts_at"])
    _, registration = await registered_bidder(client, w.auction, BUYERS[0])
    w.deposit = registration["deposit"]["id"]
    buyer, bank, operator = [await _token(client, e) for e in (BUYERS[0], BANK_A, OPERATOR)]
    offer = await client.post(
        f"/api/listings/{w.listing}/offers",
        json={
            "kind": "acquisition",
            "amount": 90_000_000,
            "terms": {},
            "valid_until": "2030-01-01T00:00:00Z",
        },
        headers=buyer,
    )
    assert offer.status_code == 201, offer.text
    w.offer = offer.json()["id"]
    document = await client.post(
        f"/api/listings/{w.listing}/documents",
        files={"file": ("summary.pdf", PDF, "application/pdf")},
        data={"confidential": "false"},
        headers=bank,
    )
    assert document.status_code == 201, document.text
    w.document = document.json()["id"]
    job = await client.post("/api/listings/import", files={"file": ("l.csv", CSV, "text/csv")}, headers=bank)
    assert job.status_code == 202, job.text
    w.import_job = job.json()["job_id"]
    second_operator = await client.post(
        f"/api/orgs/{w.orgs['exchange']}/users",
        json={
            "email": "second-operator@exchange.demo",
            "password": "long-enough-pw",
            "name": "Second Operator",
        },
        headers=operator,
    )
    assert second_operator.status_code == 201, second_operator.text
    four_eyes = await _token(client, "second-operator@exchange.demo", "long-enough-pw")
    evidence_fields = {k: w.record[k] for k in ("registry", "number", "kind", "title", "holder", "status")}
    evidence = await client.post(
        "/api/registry/manual", json={**evidence_fields, "document_sha256": "b" * 64}, headers=four_eyes
    )
    assert evidence.status_code == 201, evidence.text
    w.evidence = evidence.json()["id"]
    sold = await listing_with_terms(settings, FRONT_LOADED)
    w.sold, w.sold_auction = str(sold), str(await sold_round(settings, sold, 70_000_000))
    await confirm_transfer(client, sold)
    settled = await client.post(f"/api/listings/{sold}/settle", headers=operator)
    assert settled.status_code == 200, settled.text
    filings = await client.get(f"/api/listings/{sold}/filings", headers=operator)
    w.filing = filings.json()[0]["id"]
    return w


def outcome(response: Any) -> str:
    status = response.status_code
    location = response.headers.get("location", "")
    if status == 401 or (300 <= status < 400 and location.startswith("/login")):
        return "401"
    if status < 400 or status in (409, 422):
        return "ok"
    return str(status)


async def run_matrix(settings: Settings) -> tuple[dict[tuple[str, str], tuple[str, int, str]], set[str]]:
    app = create_app(settings)
    results: dict[tuple[str, str], tuple[str, int, str]] = {}
    async with AsyncTestClient(app=app) as client:
        world = await build_world(client, settings)
        tokens = {role: await _token(client, email) for role, email in EMAILS.items()}
        tokens["anonymous"] = {}
        for entry in MATRIX:
            path = entry.path(world) if entry.path else entry.route
            for role in ROLES:
                headers = dict(tokens[role])
                if entry.page:
                    headers["HX-Request"] = "true"
                request: dict[str, Any] = {"headers": headers, "follow_redirects": False}
                if entry.json is not None:
                    request["json"] = entry.json(world)
                if entry.files is not None:
                    request["files"] = entry.files(world)
                if entry.form is not None:
                    request["data"] = entry.form
                client.cookies.clear()
                response = await client.request(entry.method, path, **request)
                code = ""
                if response.headers.get("content-type", "").startswith("application/problem+json"):
                    code = str(response.json().get("code", ""))
                results[(entry.id, role)] = (outcome(response), response.status_code, code)
        return results, app_routes(app)


@pytest.fixture(scope="module")
def matrix(
    matrix_settings: Settings,
) -> tuple[dict[tuple[str, str], tuple[str, int, str]], set[str]]:
    """The app's answers. ``MATRIX_PRINT=1 pytest tests/test_authz_matrix.py -s`` prints them as a table."""
    results, served = asyncio.run(run_matrix(matrix_settings))
    if os.environ.get("MATRIX_PRINT"):
        for entry in MATRIX:
            answers = (
                f"{role}:{results[(entry.id, role)][1]} {results[(entry.id, role)][2]}" for role in ROLES
            )
            print(f"{entry.id:66} {' | '.join(answer.strip() for answer in answers)}")
    return results, served


def test_the_matrix_lists_every_route(matrix: Any) -> None:
    _, served = matrix
    listed = {entry.id for entry in MATRIX} | {f"WS {LIVE_FEED}"}
    assert served - listed == set(), "routes the matrix does not list"
    assert listed - served == set(), "routes the matrix lists that the app does not serve"
    assert len(listed) == len(MATRIX) + 1, "a route is listed twice"


@pytest.mark.parametrize("entry", MATRIX, ids=[entry.id for entry in MATRIX])
def test_each_role_gets_its_outcome(matrix: Any, entry: Row) -> None:
    results, _ = matrix
    got = {role: results[(entry.id, role)] for role in ROLES}
    wrong = {
        role: f"expected {entry.expect[role]}, got {got[role][1]} {got[role][2]}".strip()
        for role in ROLES
        if got[role][0] != entry.expect[role]
    }
    assert not wrong, wrong


def test_the_live_feed_is_public() -> None:
    from marketplace.auctions.routes import live_feed

    assert "principal" not in inspect.signature(live_feed.fn).parameters, "the live feed now needs a caller"
