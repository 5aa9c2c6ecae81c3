from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_adapters.base import (
    ASSET_KINDS,
    REGISTRY_KINDS,
    AssetRecord,
    RegistryError,
    anniversary,
    registry_for,
    sha256_hex,
    statutory_expiry,
)


@pytest.mark.parametrize(
    ("kind", "start", "expected"),
    [
        pytest.param("invention_patent", date(2019, 5, 20), date(2039, 5, 19), id="invention-20y"),
        pytest.param("utility_model", date(2021, 4, 16), date(2031, 4, 15), id="utility-model-10y"),
        pytest.param("design", date(2022, 6, 8), date(2037, 6, 7), id="design-15y"),
        pytest.param("trademark", date(2020, 3, 14), date(2030, 3, 13), id="trademark-10y-from-registration"),
        pytest.param("collective_mark", date(2020, 1, 1), date(2029, 12, 31), id="collective-mark-10y"),
        pytest.param("certification_mark", date(2020, 1, 1), date(2029, 12, 31), id="certification-mark-10y"),
        pytest.param("invention_patent", date(2020, 2, 29), date(2040, 2, 28), id="leap-day-to-leap-year"),
        pytest.param("utility_model", date(2020, 2, 29), date(2030, 2, 28), id="leap-day-to-common-year"),
        pytest.param("copyright", date(2020, 1, 1), None, id="copyright-no-fixed-term"),
        pytest.param("software_copyright", date(2020, 1, 1), None, id="software-no-fixed-term"),
        pytest.param("ic_layout", date(2020, 1, 1), None, id="ic-layout-needs-record"),
        pytest.param("plant_variety", date(2020, 1, 1), None, id="plant-variety-needs-record"),
        pytest.param("data_right", date(2020, 1, 1), None, id="data-right"),
        pytest.param("invention_patent", None, None, id="no-start-date"),
    ],
)
def test_statutory_expiry_table(kind: str, start: date | None, expected: date | None) -> None:
    assert statutory_expiry(kind, start) == expected  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["invention_patent", "utility_model", "design", "trademark"]),
    start=st.dates(min_value=date(1985, 1, 1), max_value=date(2100, 12, 31)),
)
def test_the_term_ends_the_day_before_the_anniversary(kind: str, start: date) -> None:
    expiry = statutory_expiry(kind, start)  # type: ignore[arg-type]
    assert expiry is not None
    years = {"invention_patent": 20, "utility_model": 10, "design": 15, "trademark": 10}[kind]
    the_day_after = expiry + timedelta(days=1)
    assert the_day_after == anniversary(start, years)
    assert the_day_after.year == start.year + years
    if (start.month, start.day) != (2, 29):
        assert (the_day_after.month, the_day_after.day) == (start.month, start.day)


def test_every_kind_has_exactly_one_registry() -> None:
    for kind in ASSET_KINDS:
        holders = [registry for registry, kinds in REGISTRY_KINDS.items() if kind in kinds]
        assert holders == [registry_for(kind)]
    assert registry_for("invention_patent") == "cnipa"
    assert registry_for("ic_layout") == "cnipa"


def _record(**fields: object) -> AssetRecord:
    values: dict[str, object] = {
        "registry": "cnipa",
        "number": "CN1",
        "kind": "invention_patent",
        "title": "t",
        "holder": "h",
        "status": "in_force",
        "raw": "{}",
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
        "source": "test",
    }
    values.update(fields)
    return AssetRecord(**values)  # type: ignore[arg-type]


def test_a_record_computes_the_digest_of_its_raw_answer() -> None:
    assert _record(raw="{}").raw_sha256 == sha256_hex(b"{}")
    assert _record(raw=b"<x/>").raw_sha256 == sha256_hex("<x/>")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"fetched_at": datetime(2026, 1, 1)}, id="naive-fetched-at"),  # noqa: DTZ001
        pytest.param({"raw": "{}", "raw_sha256": "0" * 64}, id="digest-not-of-raw"),
    ],
)
def test_a_record_refuses_a_naive_clock_or_a_foreign_digest(fields: dict[str, object]) -> None:
    with pytest.raises(RegistryError) as caught:
        _record(**fields)
    assert caught.value.code == "bad_record"


def test_registry_error_carries_code_and_detail() -> None:
    error = RegistryError("not_found", "CN1 is unknown")
    assert (error.code, error.detail) == ("not_found", "CN1 is unknown")
    assert "not_found" in str(error)
