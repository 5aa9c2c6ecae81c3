"""Bad input is a 4xx problem with a clear ``code``, never a 500: malformed and oversized bodies,
huge, negative and zero amounts, wrong currencies, unknown enum values, Unicode edge cases in names.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing, registered_bidder, schedule, wait_until
from tests.conftest import Backend
from tests.helpers import BANK_A, BUYERS, OPERATOR, bearer

Client = AsyncTestClient[Any]
NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings.with_(auction_rules="sandbox")


def registration(**changes: Any) -> dict[str, Any]:
    body = {
        "email": f"edge-{uuid.uuid4().hex[:10]}@buyer.demo",
        "password": "long-enough-pw",
        "real_name": "王小明",
        "id_number": "110101199003070000",
    }
    body.update(changes)
    return body


def case(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "currency": "CNY",
        "hammer": 100_000_000,
        "claim": 100_000_000,
        "costs": [],
        "parties": [{"role": "bank", "ratio_bp": 10_000}],
        "advances": [],
    }
    body.update(changes)
    return body


def raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


AS_ANYONE, AS_OPERATOR, AS_BANK, AS_BUYER = None, OPERATOR, BANK_A, BUYERS[0]

BAD_BODIES = [
    # malformed or the wrong shape
    pytest.param(
        "/api/buyers/register", AS_ANYONE, b'{"email": ', 400, "malformed_json", id="truncated JSON"
    ),
    pytest.param("/api/buyers/register", AS_ANYONE, b"", 422, "invalid_input", id="empty body"),
    pytest.param("/api/buyers/register", AS_ANYONE, b"[]", 422, "invalid_input", id="array, not object"),
    pytest.param(
        "/api/buyers/register", AS_ANYONE, b"[" * 100_000, 400, "malformed_json", id="nested 100k deep"
    ),
    pytest.param(
        "/api/buyers/register", AS_ANYONE, b'{"email": "\\ud800"}', 400, "malformed_json", id="lone surrogate"
    ),
    pytest.param(
        "/api/buyers/register", AS_ANYONE, registration(admin=True), 422, "invalid_input", id="unknown field"
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(email=12345),
        422,
        "invalid_input",
        id="number for text",
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(email="no-at-sign"),
        422,
        "invalid_input",
        id="bad e-mail",
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(id_number=10**40),
        422,
        "invalid_input",
        id="huge number for text",
    ),
    # Unicode edge cases in names
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(real_name="张\u0000三"),
        422,
        "invalid_input",
        id="NUL in a name",
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(real_name="\u202eevil"),
        422,
        "invalid_input",
        id="bidi override in a name",
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(real_name="a\u0007b"),
        422,
        "invalid_input",
        id="control char in a name",
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(real_name=" \u3000\t "),
        422,
        "invalid_input",
        id="blank name",
    ),
    pytest.param(
        "/api/buyers/register",
        AS_ANYONE,
        registration(real_name="名" * 201),
        422,
        "invalid_input",
        id="201-char name",
    ),
    pytest.param(
        "/api/orgs",
        AS_OPERATOR,
        {"name": "银行\u0000", "kind": "bank"},
        422,
        "invalid_input",
        id="NUL in an org name",
    ),
    pytest.param(
        "/api/orgs",
        AS_OPERATOR,
        {"name": "Casino", "kind": "casino"},
        422,
        "invalid_input",
        id="unknown org kind",
    ),
    # amounts
    pytest.param(
        f"/api/auctions/{NOWHERE}/bids",
        AS_BUYER,
        {"amount": 1.5},
        422,
        "invalid_input",
        id="fractional amount",
    ),
    pytest.param(
        f"/api/auctions/{NOWHERE}/bids", AS_BUYER, {"amount": True}, 422, "invalid_input", id="boolean amount"
    ),
    pytest.param(
        f"/api/auctions/{NOWHERE}/bids",
        AS_BUYER,
        {"amount": "one hundred"},
        422,
        "invalid_input",
        id="amount as text",
    ),
    pytest.param(
        f"/api/auctions/{NOWHERE}/bids", AS_BUYER, {"amount": 10**30}, 422, "invalid_input", id="huge amount"
    ),
    pytest.param(
        f"/api/auctions/{NOWHERE}/bids",
        AS_BUYER,
        b'{"amount": 1e400}',
        400,
        "malformed_json",
        id="amount beyond float",
    ),
    pytest.param(f"/api/auctions/{NOWHERE}/bids", AS_BUYER, {}, 422, "invalid_input", id="amount missing"),
    pytest.param(
        "/api/settlement/preview", AS_BUYER, case(hammer=-1), 422, "negative_amount", id="negative hammer"
    ),
    pytest.param(
        "/api/settlement/preview", AS_BUYER, case(hammer=10**30), 422, "amount_too_large", id="huge hammer"
    ),
    pytest.param(
        "/api/settlement/preview", AS_BUYER, case(currency="XXX"), 422, "bad_currency", id="unknown currency"
    ),
    pytest.param(
        "/api/settlement/preview",
        AS_BUYER,
        case(currency="cny"),
        422,
        "bad_currency",
        id="lower-case currency",
    ),
    pytest.param(
        "/api/settlement/preview",
        AS_BUYER,
        case(parties=[{"role": "wizard", "ratio_bp": 10_000}]),
        422,
        "unknown_role",
        id="unknown role",
    ),
    pytest.param(
        "/api/settlement/preview",
        AS_BUYER,
        case(parties=[{"role": "bank", "ratio_bp": 9_999}]),
        422,
        "ratios_not_10000",
        id="ratios not 10 000",
    ),
]


@pytest.mark.parametrize(("path", "who", "body", "status", "code"), BAD_BODIES)
async def test_bad_bodies_are_4xx_problems_with_a_code(
    client: Client, path: str, who: str | None, body: Any, status: int, code: str
) -> None:
    headers = {"Content-Type": "application/json"}
    if who is not None:
        headers |= await bearer(client, who)
    response = await client.post(path, content=raw(body), headers=headers)
    assert (response.status_code, response.json().get("code")) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/buyers/register", id="registration"),
        pytest.param(f"/api/auctions/{NOWHERE}/bids", id="a bid"),
        pytest.param("/api/settlement/preview", id="settlement preview"),
    ],
)
async def test_oversized_bodies_are_413(client: Client, path: str) -> None:
    body = b'{"padding": "' + b"x" * 1_100_000 + b'"}'
    response = await client.post(
        path, content=body, headers={"Content-Type": "application/json", **(await bearer(client, BUYERS[0]))}
    )
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        pytest.param("page=abc", 422, "invalid_input", id="page not a number"),
        pytest.param("page=-1", 422, "bad_page", id="negative page"),
        pytest.param("page=99999999999999999999", 422, "invalid_input", id="page beyond 64 bits"),
        pytest.param("min_price=1e999", 422, "invalid_input", id="price beyond float"),
        pytest.param("max_price=-5", 422, "bad_price", id="negative price"),
        pytest.param("min_price=99999999999999999999", 422, "invalid_input", id="price beyond 64 bits"),
    ],
)
async def test_bad_query_parameters_are_4xx(client: Client, query: str, status: int, code: str) -> None:
    response = await client.get(f"/api/listings?{query}")
    assert (response.status_code, response.json().get("code")) == (status, code), response.text


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("王小明", id="CJK"),
        pytest.param("Zoë Ångström-Øster", id="Latin with diacritics"),
        pytest.param("محمد", id="right-to-left script"),
        pytest.param("👩\u200d💼 Ana", id="emoji with zero-width joiner"),
        pytest.param("e\u0301mile", id="combining accent"),
        pytest.param("名" * 200, id="200 characters"),
    ],
)
async def test_real_names_in_any_script_are_kept_as_given(client: Client, name: str) -> None:
    body = registration(real_name=name)
    response = await client.post("/api/buyers/register", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["real_name"] == name
    me = await client.get("/api/me", headers=await bearer(client, body["email"], body["password"]))
    assert me.json()["real_name"] == name


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        pytest.param(-70_000_000, "bad_amount", id="negative"),
        pytest.param(0, "bad_amount", id="zero"),
        pytest.param(69_999_999, "bid_too_low", id="one fen under the start"),
        pytest.param(70_000_001, "bad_increment", id="off the increment"),
    ],
)
async def test_bid_amounts_outside_the_rules_are_refused_with_their_code(
    client: Client, settings: Settings, amount: int, code: str
) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=30)
    buyer, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    await wait_until(auction["starts_at"])
    response = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": amount}, headers=buyer
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert (await client.get(f"/api/auctions/{auction['id']}/bids")).json() == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"starting_price": 0}, "invalid_input", id="zero starting price"),
        pytest.param({"starting_price": -1}, "invalid_input", id="negative starting price"),
        pytest.param({"increment": 10**16}, "invalid_input", id="huge increment"),
        pytest.param({"kind": "dutch"}, "invalid_input", id="unknown kind"),
        pytest.param({"starts_at": "2026-13-01T00:00:00Z"}, "invalid_input", id="impossible date"),
        pytest.param({"starts_at": "2030-01-01T08:00:00"}, "invalid_input", id="time without a zone"),
    ],
)
async def test_bad_schedules_are_422(
    client: Client, settings: Settings, change: dict[str, Any], code: str
) -> None:
    listing_id = await approved_listing(settings)
    body = {
        "kind": "auction",
        "starting_price": 70_000_000,
        "increment": 1_000_000,
        "deposit": 7_000_000,
        "starts_at": "2030-01-01T08:00:00Z",
        "ends_at": "2030-01-02T08:00:00Z",
    } | change
    response = await client.post(
        f"/api/listings/{listing_id}/auctions", json=body, headers=await bearer(client, OPERATOR)
    )
    assert (response.status_code, response.json()["code"]) == (422, code), response.text
