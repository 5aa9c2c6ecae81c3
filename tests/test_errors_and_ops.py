"""Errors are problem+json with a stable code; ops endpoints answer."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.helpers import OPERATOR, bearer

Client = AsyncTestClient[Any]


async def test_health_reports_the_database(client: Client, settings: Any) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    if settings.redis_url:
        assert body["checks"]["redis"] == "ok"
    assert response.headers["x-request-id"]


async def test_openapi_schema_lists_the_accounts_contract(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for path in (
        "/api/auth/token",
        "/api/buyers/register",
        "/api/orgs",
        "/api/orgs/{org_id}/users",
        "/api/me",
    ):
        assert path in schema["paths"], path


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"name": "x",', 400, "malformed_json"),
        ("[]", 422, "invalid_input"),
        ('{"name": "x", "kind": "casino"}', 422, "invalid_input"),
        ('{"name": "", "kind": "bank"}', 422, "invalid_input"),
        ('{"name": "x", "kind": "bank", "extra": 1}', 422, "invalid_input"),
        ('{"name": 12345678901234567890123, "kind": "bank"}', 422, "invalid_input"),
        ('{"name": "\\ud800", "kind": "bank"}', 400, "malformed_json"),
    ],
    ids=[
        "truncated",
        "array",
        "unknown-enum",
        "empty-name",
        "unknown-field",
        "huge-number",
        "lone-surrogate",
    ],
)
async def test_bad_bodies_are_4xx_problems(client: Client, body: str, status: int, code: str) -> None:
    headers = await bearer(client, OPERATOR)
    headers["Content-Type"] = "application/json"
    response = await client.post("/api/orgs", content=body.encode(), headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_oversized_body_is_413(client: Client) -> None:
    response = await client.post(
        "/api/buyers/register",
        content=b'{"email": "' + b"a" * 2_000_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_unknown_path_is_404_problem(client: Client) -> None:
    response = await client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_bad_uuid_in_path_is_a_4xx(client: Client) -> None:
    headers = await bearer(client, OPERATOR)
    response = await client.post(
        "/api/orgs/not-a-uuid/users",
        json={"email": "a@b.demo", "password": "long-enough", "name": "A"},
        headers=headers,
    )
    assert 400 <= response.status_code < 500
