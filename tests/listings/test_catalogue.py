"""The catalogue: search by title and asset number, filters, sorting and pagination."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import BANK_A, OPERATOR, bearer
from tests.listings.support import (
    Client,
    approve,
    asset,
    create_listing,
    draft_body,
    org_ids,
    patent_number,
    published_listing,
    put_records,
    sandbox_record,
    submit,
    unique,
)


async def _three_published(client: Client, tag: str) -> list[dict[str, Any]]:
    orgs = await org_ids(client)
    return [
        await published_listing(client, orgs, title=f"{tag} 第{index}号 lot", valuation=valuation)
        for index, valuation in enumerate((50_000_000, 150_000_000, 300_000_000), start=1)
    ]


async def test_search_by_title_is_case_insensitive_and_literal(client: Client) -> None:
    tag = unique("Catalogue-Tag-")
    listings = await _three_published(client, tag)
    page = (await client.get("/api/listings", params={"q": tag.upper()})).json()
    assert page["total"] == 3
    assert {item["id"] for item in page["items"]} == {listing["id"] for listing in listings}
    assert (await client.get("/api/listings", params={"q": f"{tag}%"})).json()["total"] == 0


async def test_search_by_asset_number_and_asset_title(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    record = sandbox_record(patent_number(), pledge_no, title=f"独特的资产名称 {unique()}")
    await put_records(client, record)
    listing = await create_listing(client, draft_body(orgs, [asset(record)], pledge_no))
    await submit(client, listing["id"])
    await approve(client, listing["id"])
    for q in (record["number"], record["number"].lower(), record["title"]):
        page = (await client.get("/api/listings", params={"q": q})).json()
        assert [item["id"] for item in page["items"]] == [listing["id"]], q


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"min_price": 100_000_000}, [3, 2], id="min-price"),
        pytest.param({"max_price": 150_000_000}, [2, 1], id="max-price"),
        pytest.param({"min_price": 60_000_000, "max_price": 200_000_000}, [2], id="price-range"),
        pytest.param({"kind": "invention_patent"}, [3, 2, 1], id="kind-present"),
        pytest.param({"kind": "trademark"}, [], id="kind-absent"),
        pytest.param({"status": "approved"}, [3, 2, 1], id="status-approved"),
        pytest.param({"status": "draft"}, [], id="status-draft-is-not-public"),
        pytest.param({"sort": "price_desc"}, [3, 2, 1], id="sort-price-desc"),
        pytest.param({"sort": "price_asc"}, [1, 2, 3], id="sort-price-asc"),
    ],
)
async def test_filters_and_sorting(client: Client, params: dict[str, Any], expected: list[int]) -> None:
    """Listings 1, 2, 3 are valued 0.5 M, 1.5 M and 3 M yuan and created in that order (newest first)."""
    tag = unique("Filter-")
    listings = await _three_published(client, tag)
    page = (await client.get("/api/listings", params={"q": tag, **params})).json()
    assert [item["id"] for item in page["items"]] == [listings[n - 1]["id"] for n in expected]
    assert page["total"] == len(expected)
    for item in page["items"]:
        assert set(item) >= {"id", "title", "status", "price", "currency", "kinds", "bank_name"}


async def test_pagination_covers_every_listing_once(client: Client) -> None:
    tag = unique("Pages-")
    listings = await _three_published(client, tag)
    seen: list[str] = []
    for page_no in (1, 2):
        page = (
            await client.get(
                "/api/listings", params={"q": tag, "page": page_no, "page_size": 2, "sort": "price_asc"}
            )
        ).json()
        assert page["total"] == 3
        assert page["page"] == page_no
        seen.extend(item["id"] for item in page["items"])
    assert seen == [listing["id"] for listing in listings]
    empty = (await client.get("/api/listings", params={"q": tag, "page": 3, "page_size": 2})).json()
    assert empty["items"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"page": 0}, "bad_page", id="page-zero"),
        pytest.param({"page_size": 101}, "bad_page_size", id="page-size-too-large"),
        pytest.param({"sort": "random"}, "bad_sort", id="unknown-sort"),
        pytest.param({"min_price": 5, "max_price": 1}, "bad_price", id="min-above-max"),
    ],
)
async def test_bad_catalogue_queries_are_422(client: Client, params: dict[str, Any], code: str) -> None:
    response = await client.get("/api/listings", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_bank_sees_its_drafts_and_the_operator_sees_all(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    title = unique("Own-Draft-")
    body = draft_body(orgs, [asset(sandbox_record(patent_number(), pledge_no))], pledge_no, title=title)
    draft = await create_listing(client, body)
    for email, visible in ((BANK_A, True), (OPERATOR, True), ("bank-b@bank.demo", False)):
        page = (
            await client.get("/api/listings", params={"q": title}, headers=await bearer(client, email))
        ).json()
        assert ([item["id"] for item in page["items"]] == [draft["id"]]) is visible, email
