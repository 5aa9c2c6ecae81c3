"""Auction tests run the sandbox rule profile: the price rules of spc2016, windows of seconds."""

from __future__ import annotations

import pytest

from marketplace.settings import Settings
from tests.conftest import Backend


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings.with_(auction_rules="sandbox")
