"""``POST /api/settlement/preview``: the calculator over HTTP, pure, 422 for every invalid case."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.helpers import BUYERS, GUARANTOR, bearer
from tests.settlement.test_case_decoding import DOMAIN_EXAMPLE_JSON

from .factories import Counts, counts

Client = AsyncTestClient[Any]


async def test_any_signed_in_user_previews_the_worked_example(client: Client, settings: Settings) -> None:
    for email in (BUYERS[0], GUARANTOR):
        response = await client.post(
            "/api/settlement/preview", json=DOMAIN_EXAMPLE_JSON, headers=await bearer(client, email)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["net"], body["recovered"], body["loss"], body["balanced"]) == (
            68_000_000,
            68_000_000,
            32_000_000,
            True,
        )
        assert [line["receives"] for line in body["lines"]] == [13_600_000, 27_200_000, 27_200_000]
    assert await counts(settings) == Counts(0, 0, 0)


async def test_an_anonymous_caller_is_asked_to_sign_in(client: Client) -> None:
    response = await client.post("/api/settlement/preview", json=DOMAIN_EXAMPLE_JSON)
    assert response.status_code == 401


def changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOMAIN_EXAMPLE_JSON)
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("case", "code"),
    [
        pytest.param(
            changed(("parties", 0, "ratio_bp"), 1999), "ratios_not_10000", id="ratios off by one bp"
        ),
        pytest.param(changed(("hammer",), -1), "negative_amount", id="a negative hammer"),
        pytest.param(changed(("hammer",), 10**15 + 1), "amount_too_large", id="an absurd hammer"),
        pytest.param(
            changed(("advances", 0, "amount"), 100_000_001), "advance_above_claim", id="advance > claim"
        ),
        pytest.param(changed(("parties", 1, "role"), "auditor"), "unknown_role", id="an unknown role"),
        pytest.param(changed(("parties", 0, "role"), "insurer"), "bank_line_missing", id="no bank line"),
        pytest.param(changed(("advances", 0, "role"), "bank"), "bank_advance", id="the bank advancing"),
        pytest.param(changed(("currency",), "XYZ"), "bad_currency", id="an unknown currency"),
        pytest.param(changed(("premium_bp",), 10_001), "bad_premium", id="a premium above 100 %"),
        pytest.param(changed(("hammer",), 700000.5), "invalid_input", id="a float hammer"),
        pytest.param(changed(("hammer",), "70000000"), "invalid_input", id="a string hammer"),
        pytest.param(changed(("claim",), True), "invalid_input", id="a boolean claim"),
        pytest.param(changed(("surprise",), 1), "invalid_input", id="an unknown field"),
        pytest.param(changed(("hammer",), 10**30), "amount_too_large", id="an integer beyond 64 bits"),
    ],
)
async def test_every_invalid_case_is_422(client: Client, case: dict[str, Any], code: str) -> None:
    response = await client.post(
        "/api/settlement/preview", json=case, headers=await bearer(client, BUYERS[0])
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
