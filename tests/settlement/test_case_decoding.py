"""A case arrives as JSON: unknown fields and wrong types fail in msgspec, ready to map to 422."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from marketplace.settlement import Case, compute_statement

from .cases import DOMAIN_EXAMPLE

DOMAIN_EXAMPLE_JSON: dict[str, Any] = {
    "currency": "CNY",
    "hammer": 70_000_000,
    "costs": [{"kind": "valuation", "amount": 2_000_000}],
    "claim": 100_000_000,
    "parties": [
        {"role": "bank", "ratio_bp": 2000},
        {"role": "guarantor", "ratio_bp": 4000},
        {"role": "risk_pool", "ratio_bp": 4000},
    ],
    "advances": [{"role": "guarantor", "amount": 40_000_000}, {"role": "risk_pool", "amount": 40_000_000}],
}


def test_a_json_case_decodes_with_defaults_and_settles() -> None:
    case = msgspec.json.decode(json.dumps(DOMAIN_EXAMPLE_JSON).encode(), type=Case)
    assert case.forfeited_deposits == 0
    assert case.commission_bp == 0
    assert case.premium_bp == 0
    assert case.premium_schedule == "flat"
    statement = compute_statement(case)
    assert statement == compute_statement(DOMAIN_EXAMPLE)
    encoded = json.loads(msgspec.json.encode(statement))
    assert set(encoded) >= {
        "currency", "hammer", "premium", "commission", "costs_total", "net", "claim", "recovered",
        "loss", "surplus_to_pledgor", "lines", "balanced",
    }  # fmt: skip
    assert set(encoded["lines"][0]) == {"role", "ratio_bp", "advance", "loss_share", "receives"}
    assert encoded["balanced"] is True


def test_currency_and_advances_may_be_left_out() -> None:
    minimal = {"hammer": 1, "claim": 1, "parties": [{"role": "bank", "ratio_bp": 10_000}]}
    case = msgspec.json.decode(json.dumps(minimal).encode(), type=Case)
    assert case.currency == "CNY"
    assert case.advances == []
    assert case.costs == []


def changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(DOMAIN_EXAMPLE_JSON))
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(("surprise",), 1, "unknown field", id="unknown top-level field"),
        pytest.param(("parties", 0, "weight"), 1, "unknown field", id="unknown field in a party"),
        pytest.param(("costs", 0, "vat"), 1, "unknown field", id="unknown field in a cost"),
        pytest.param(("advances", 0, "paid_at"), "x", "unknown field", id="unknown field in an advance"),
        pytest.param(("hammer",), "70000000", "Expected `int`", id="hammer as a string"),
        pytest.param(("hammer",), 700000.5, "Expected `int`", id="hammer as a float"),
        pytest.param(("hammer",), 70000000.0, "Expected `int`", id="hammer as a whole float"),
        pytest.param(("claim",), True, "Expected `int`", id="claim as a bool"),
        pytest.param(("parties", 1, "ratio_bp"), 40.0, "Expected `int`", id="ratio as a float"),
        pytest.param(("parties",), {"bank": 10_000}, "Expected `array`", id="parties as an object"),
        pytest.param(("premium_schedule",), "sliding", "Invalid enum value", id="unknown schedule"),
        pytest.param(("currency",), None, "Expected `str`", id="null currency"),
        pytest.param(("hammer",), DELETE, "missing required field", id="no hammer"),
        pytest.param(("claim",), DELETE, "missing required field", id="no claim"),
        pytest.param(("parties",), DELETE, "missing required field", id="no parties"),
        pytest.param(("costs", 0, "amount"), DELETE, "missing required field", id="cost without amount"),
    ],
)
def test_bad_json_fails_in_msgspec(path: tuple[Any, ...], value: Any, message: str) -> None:
    body = json.dumps(changed(path, value)).encode()
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.json.decode(body, type=Case)


def test_malformed_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(b'{"hammer": 1,', type=Case)
