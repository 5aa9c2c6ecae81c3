"""Offers through the API: who makes them, who reads their terms, who answers, expiry, approval."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing
from tests.helpers import ACQUIRER, BANK_A, BANK_B, BUYERS, GUARANTOR, OPERATOR, bearer

from .factories import EQUITY_TERMS, LICENCE_TERMS, TERMS, accepted, approved, expire, offer, valid_until

Client = AsyncTestClient[Any]


@pytest.mark.parametrize(
    ("email", "kind", "status", "code"),
    [
        pytest.param(BUYERS[0], "acquisition", 201, None, id="a buyer offers to buy"),
        pytest.param(ACQUIRER, "acquisition", 201, None, id="an acquirer offers to buy"),
        pytest.param(ACQUIRER, "license", 201, None, id="an acquirer asks for a licence"),
        pytest.param(BUYERS[1], "equity", 201, None, id="a buyer proposes an equity conversion"),
        pytest.param(BANK_A, "acquisition", 403, "wrong_role", id="the listing bank"),
        pytest.param(OPERATOR, "acquisition", 403, "wrong_role", id="an operator"),
        pytest.param(GUARANTOR, "acquisition", 403, "wrong_role", id="a guarantor"),
        pytest.param(
            BUYERS[0], "license_back", 403, "not_pledgor", id="a licence-back by anyone but the pledgor"
        ),
    ],
)
async def test_who_makes_offers(
    client: Client, settings: Settings, email: str, kind: str, status: int, code: str | None
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, email, kind=kind, amount=80_000_000, expect=status)
    if code:
        assert made["code"] == code
    else:
        assert (made["kind"], made["status"], made["amount"]) == (kind, "open", 80_000_000)


async def test_an_anonymous_caller_makes_no_offer(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    response = await client.post(
        f"/api/listings/{listing_id}/offers",
        json={"kind": "acquisition", "amount": 1, "terms": {}, "valid_until": valid_until()},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("kind", "amount", "terms", "code"),
    [
        pytest.param("license", 0, {"term_months": 12}, "invalid_terms", id="a licence without exclusivity"),
        pytest.param(
            "license", 0, LICENCE_TERMS | {"exclusivity": "shared"}, "invalid_terms", id="bad exclusivity"
        ),
        pytest.param(
            "license", 0, LICENCE_TERMS | {"royalty_bp": 10_001}, "invalid_terms", id="royalty over 100 %"
        ),
        pytest.param(
            "license", 5, LICENCE_TERMS | {"upfront_fee": 6}, "terms_mismatch", id="upfront fee != amount"
        ),
        pytest.param("acquisition", 1, {"surprise": True}, "invalid_terms", id="an unknown term"),
        pytest.param("acquisition", 0, {}, "bad_amount", id="buying for nothing"),
        pytest.param(
            "equity", 300_000_000, EQUITY_TERMS, "terms_mismatch", id="more claim than the company is worth"
        ),
        pytest.param("equity", 1, {"company": "X"}, "invalid_terms", id="equity without a valuation"),
    ],
)
async def test_each_kind_of_terms_is_validated(
    client: Client, settings: Settings, kind: str, amount: int, terms: dict[str, Any], code: str
) -> None:
    listing_id = await approved_listing(settings)
    refused = await offer(client, listing_id, ACQUIRER, kind=kind, amount=amount, terms=terms, expect=422)
    assert refused["code"] == code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"valid_until": "2020-01-01T00:00:00Z"}, "valid_until_in_past", id="already expired"),
        pytest.param({"currency": "USD"}, "currency_mismatch", id="another currency"),
        pytest.param({"kind": "pledge"}, "invalid_input", id="an unknown kind"),
        pytest.param({"amount": 1.5}, "invalid_input", id="a float amount"),
    ],
)
async def test_the_offer_body_is_validated(
    client: Client, settings: Settings, change: dict[str, Any], code: str
) -> None:
    listing_id = await approved_listing(settings)
    body = {"kind": "acquisition", "amount": 80_000_000, "terms": {}, "valid_until": valid_until()} | change
    response = await client.post(
        f"/api/listings/{listing_id}/offers", json=body, headers=await bearer(client, ACQUIRER)
    )
    assert (response.status_code, response.json()["code"]) == (422, code)


async def test_terms_are_seen_only_by_the_bank_the_offeror_and_operators(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    mine = await offer(client, listing_id, BUYERS[0])
    theirs = await offer(client, listing_id, ACQUIRER, kind="license", amount=5_000_000)
    assert theirs["terms"]["licensee"] == "示范知识产权运营收储中心 Demo IP Acquirer"
    assert theirs["terms"]["upfront_fee"] == 5_000_000

    async def listed(email: str) -> set[str]:
        response = await client.get(f"/api/listings/{listing_id}/offers", headers=await bearer(client, email))
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()}

    assert await listed(BANK_A) == {mine["id"], theirs["id"]}
    assert await listed(OPERATOR) == {mine["id"], theirs["id"]}
    assert await listed(BUYERS[0]) == {mine["id"]}
    assert await listed(ACQUIRER) == {theirs["id"]}
    assert await listed(BUYERS[1]) == set()
    assert await listed(BANK_B) == set()
    for email in (BUYERS[1], BANK_B, GUARANTOR):
        response = await client.get(f"/api/offers/{mine['id']}", headers=await bearer(client, email))
        assert response.status_code == 404, email
    shown = await client.get(f"/api/offers/{mine['id']}", headers=await bearer(client, BANK_A))
    assert shown.json()["terms"] == {"payment_days": 30, "conditions": ""}


@pytest.mark.parametrize(
    ("email", "status", "code"),
    [
        pytest.param(BANK_A, 200, None, id="the owning bank"),
        pytest.param(BUYERS[0], 403, "not_owner", id="the offeror itself"),
        pytest.param(OPERATOR, 403, "not_owner", id="an operator"),
        pytest.param(BANK_B, 404, "not_found", id="another bank"),
        pytest.param(BUYERS[1], 404, "not_found", id="another buyer"),
    ],
)
@pytest.mark.parametrize("action", ["accept", "reject", "counter"])
async def test_only_the_owning_bank_answers(
    client: Client, settings: Settings, action: str, email: str, status: int, code: str | None
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, BUYERS[0])
    body = {"amount": 90_000_000} if action == "counter" else {}
    response = await client.post(
        f"/api/offers/{made['id']}/{action}", json=body, headers=await bearer(client, email)
    )
    assert response.status_code == status, response.text
    if code:
        assert response.json()["code"] == code
    else:
        expected = {"accept": "accepted", "reject": "rejected", "counter": "countered"}[action]
        assert response.json()["status"] == expected


async def test_a_counter_taken_by_the_offeror_is_accepted_on_its_terms(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, ACQUIRER, kind="license", amount=5_000_000)
    bank = await bearer(client, BANK_A)
    countered = await client.post(
        f"/api/offers/{made['id']}/counter",
        json={"amount": 6_000_000, "terms": {"royalty_bp": 450}},
        headers=bank,
    )
    assert countered.status_code == 200, countered.text
    assert countered.json()["counter"]["terms"]["royalty_bp"] == 450
    assert countered.json()["counter"]["terms"]["upfront_fee"] == 6_000_000
    refused = await client.post(f"/api/offers/{made['id']}/accept", headers=bank)
    assert (refused.status_code, refused.json()["code"]) == (409, "offer_not_open")
    stranger = await client.post(f"/api/offers/{made['id']}/accept-counter", headers=bank)
    assert (stranger.status_code, stranger.json()["code"]) == (403, "not_offeror")
    taken = await client.post(
        f"/api/offers/{made['id']}/accept-counter", headers=await bearer(client, ACQUIRER)
    )
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["amount"]) == ("accepted", 6_000_000)
    assert taken.json()["terms"]["royalty_bp"] == 450
    assert [entry["action"] for entry in taken.json()["history"]] == ["made", "countered", "counter_accepted"]


@pytest.mark.parametrize(
    ("action", "email"),
    [
        pytest.param("accept", BANK_A, id="the bank accepts"),
        pytest.param("counter", BANK_A, id="the bank counters"),
        pytest.param("approve", OPERATOR, id="the operator approves an accepted offer"),
    ],
)
async def test_an_expired_offer_cannot_be_taken_up(
    client: Client, settings: Settings, action: str, email: str
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, BUYERS[0])
    if action == "approve":
        await accepted(client, made["id"])
    await expire(settings, made["id"])
    shown = await client.get(f"/api/offers/{made['id']}", headers=await bearer(client, BANK_A))
    assert shown.json()["status"] == "expired"
    body = {"amount": 1} if action == "counter" else {}
    response = await client.post(
        f"/api/offers/{made['id']}/{action}", json=body, headers=await bearer(client, email)
    )
    assert (response.status_code, response.json()["code"]) == (409, "offer_expired")


async def test_an_approved_acquisition_ends_the_disposal_like_a_sale(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, ACQUIRER)
    operator = await bearer(client, OPERATOR)
    early = await client.post(f"/api/offers/{made['id']}/approve", headers=operator)
    assert (early.status_code, early.json()["code"]) == (409, "offer_not_accepted")
    await accepted(client, made["id"])
    by_bank = await client.post(f"/api/offers/{made['id']}/approve", headers=await bearer(client, BANK_A))
    assert (by_bank.status_code, by_bank.json()["code"]) == (403, "wrong_role")
    contract = await client.post(f"/api/offers/{made['id']}/approve", headers=operator)
    assert contract.status_code == 200, contract.text
    assert contract.json()["status"] == "approved"
    assert contract.json()["contract_no"].startswith("HT-")
    listing = await client.get(f"/api/listings/{listing_id}", headers=operator)
    assert listing.json()["status"] == "sold"
    later = await offer(client, listing_id, BUYERS[0], expect=409)
    assert later["code"] == "listing_not_open"


async def test_an_approved_licence_is_a_contract_and_the_disposal_goes_on(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, ACQUIRER, kind="license", amount=5_000_000)
    contract = await approved(client, made["id"])
    assert contract["status"] == "approved"
    listing = await client.get(f"/api/listings/{listing_id}", headers=await bearer(client, OPERATOR))
    assert listing.json()["status"] == "approved"


async def test_the_pledgor_may_ask_for_a_licence_back_but_not_buy(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings, pledgor="张三 Zhang San")
    licence_back = await offer(client, listing_id, BUYERS[0], kind="license_back", amount=0)
    assert licence_back["terms"]["licensee"] == "张三 Zhang San"
    renamed = await offer(
        client, listing_id, BUYERS[0], kind="license_back", amount=0,
        terms=LICENCE_TERMS | {"licensee": "Somebody Else"}, expect=422,
    )  # fmt: skip
    assert renamed["code"] == "terms_mismatch"
    buying = await offer(client, listing_id, BUYERS[0], kind="acquisition", expect=403)
    assert buying["code"] == "not_allowed_to_offer"
    assert TERMS["license_back"] == LICENCE_TERMS
