"""Schemathesis fuzzes every API operation of the OpenAPI schema against the app, signed in as an
operator, a bank user and a buyer: no answer is a 500, and every answer's status, content type
and body are the ones the schema declares (problem answers included).

Bounded: a few examples per operation and role, so the whole run takes a minute or two. The app
runs embedded (SQLite) on its own copy of the seeded database, with rate limits off.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketplace.app import create_app
from marketplace.settings import Settings
from tests.helpers import BANK_A, BUYERS, DEMO_PASSWORD, OPERATOR

EXAMPLES_PER_OPERATION = 12
ROLES = {"operator": OPERATOR, "bank": BANK_A, "buyer": BUYERS[0]}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Litestar]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    shutil.copy(sqlite_template, data_dir / "marketplace.db")
    app = create_app(
        Settings(
            data_dir=data_dir,
            secret_key="test-secret",
            scheduler_enabled=False,
            rate_limits_enabled=False,
            auction_rules="sandbox",
        )
    )
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def bearer_tokens(fuzzed_app: Litestar) -> dict[str, dict[str, str]]:
    tokens: dict[str, dict[str, str]] = {}
    with asgi.get_client(fuzzed_app) as client:
        for role, email in ROLES.items():
            response = client.post("/api/auth/token", json={"email": email, "password": DEMO_PASSWORD})
            assert response.status_code == 200, response.text
            tokens[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return tokens


def _schema_only_app() -> Litestar:
    """An app built only to read the schema from (collection time: no database is touched)."""
    data_dir = Path(tempfile.gettempdir()) / "mp-schema-only"
    return create_app(Settings(data_dir=data_dir, secret_key="schema-only", scheduler_enabled=False))


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", _schema_only_app()).include(
    path_regex=r"^/(api/|health$)"
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_operation_answers_as_its_schema_says(
    case: Any, fuzzed_app: Litestar, bearer_tokens: dict[str, dict[str, str]]
) -> None:
    for headers in bearer_tokens.values():
        case.call_and_validate(headers=headers, checks=CHECKS, app=fuzzed_app)
