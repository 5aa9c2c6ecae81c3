"""Fixtures for fault tests: a template cluster per session, own PostgreSQL + Redis per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing_service
from tests.reliability.services import OwnPostgres, Services, own_services, template_cluster, why_unavailable


@pytest.fixture(scope="session")
def fault_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPostgres]:
    reason = why_unavailable()
    if reason is not None:
        missing_service(reason)
    with template_cluster(tmp_path_factory.mktemp("fault-template")) as cluster:
        yield cluster


@pytest.fixture
def services(fault_template: OwnPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with own_services(fault_template, tmp_path_factory.mktemp("fault-services")) as own:
        yield own
