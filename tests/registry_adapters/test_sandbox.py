from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_adapters.base import ASSET_KINDS, RegistryAdapter, RegistryError
from registry_adapters.checks import (
    AssetForCheck,
    Disclosures,
    ListingForCheck,
    hard_failures,
    run_checks,
    warnings,
)
from registry_adapters.sandbox import (
    DEMO_MARK_FAMILY,
    DEMO_PLEDGE_A,
    DEMO_PLEDGE_A_CO_OWNED,
    DEMO_PLEDGE_A_LAPSED,
    DEMO_PLEDGE_A_LICENSED,
    DEMO_PLEDGE_A_MARKS,
    DEMO_PLEDGE_A_SOFTWARE,
    DEMO_PLEDGE_A_UNPAID,
    DEMO_PLEDGE_B,
    InMemorySandboxStore,
    SandboxRegistry,
    canonical_json,
    cn_application_number,
    demo_records,
    record_from_sandbox,
)

from .factories import BANK, FETCHED_AT, PLEDGE_NO, sandbox_json


def test_the_api_sandbox_json_becomes_a_record() -> None:
    payload = sandbox_json(
        co_owners=["示范理工大学"],
        licences=[{"licensee": "示范门窗制造有限公司", "kind": "exclusive", "until": "2028-01-31"}],
        litigation=["无效宣告请求审查中"],
        family=None,
    )
    record = record_from_sandbox(payload, FETCHED_AT)
    assert record.registry == "cnipa"
    assert record.kind == "invention_patent"
    assert record.co_owners == ("示范理工大学",)
    assert record.expires_on == date(2039, 5, 19)
    assert record.fees_paid_until == date(2027, 5, 19)
    assert record.pledges[0].pledgee == BANK
    assert record.pledges[0].registration_no == PLEDGE_NO
    assert record.pledges[0].status == "registered"
    assert record.licences[0].kind == "exclusive"
    assert record.licences[0].until == date(2028, 1, 31)
    assert record.litigation == ("无效宣告请求审查中",)
    assert record.source == "sandbox"
    assert record.fetched_at == FETCHED_AT
    assert json.loads(record.raw) == payload
    assert record.raw_sha256 == hashlib.sha256(str(record.raw).encode()).hexdigest()


def test_the_minimal_api_shape_is_enough() -> None:
    payload = {
        "registry": "cntmo",
        "number": "40123456",
        "kind": "trademark",
        "title": "龙门",
        "holder": "示范精密铝业（苏州）有限公司",
        "co_owners": [],
        "status": "in_force",
        "expires_on": "2030-03-13",
        "fees_paid_until": None,
        "pledges": [],
        "licences": [],
    }
    record = record_from_sandbox(payload, FETCHED_AT)
    assert record.filed_on is None
    assert record.litigation == ()
    assert record.family is None


def test_date_objects_are_accepted_and_serialised_as_iso() -> None:
    record = record_from_sandbox(sandbox_json(expires_on=date(2039, 5, 19)), FETCHED_AT)
    assert record.expires_on == date(2039, 5, 19)
    assert '"expires_on":"2039-05-19"' in str(record.raw)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param({"kind": "patent"}, "kind", id="unknown-kind"),
        pytest.param({"status": "valid"}, "status", id="unknown-status"),
        pytest.param({"holder": ""}, "holder", id="empty-holder"),
        pytest.param({"number": None}, "number", id="missing-number"),
        pytest.param({"expires_on": "2039/05/19"}, "expires_on", id="not-an-iso-date"),
        pytest.param({"expires_on": 20390519}, "expires_on", id="date-as-number"),
        pytest.param({"filed_on": datetime(2019, 5, 20, tzinfo=UTC)}, "serialis", id="datetime-for-date"),
        pytest.param({"co_owners": "示范理工大学"}, "co_owners", id="co-owners-not-a-list"),
        pytest.param({"co_owners": [""]}, "co_owners", id="blank-co-owner"),
        pytest.param(
            {"pledges": [{"pledgee": BANK, "status": "registered"}]}, "registration_no", id="pledge-no-number"
        ),
        pytest.param(
            {"pledges": [{"pledgee": BANK, "registration_no": "Y1", "status": "active"}]},
            "status",
            id="pledge-unknown-status",
        ),
        pytest.param({"pledges": ["Y1"]}, "pledges", id="pledge-not-an-object"),
        pytest.param(
            {"licences": [{"licensee": "L", "kind": "free", "until": None}]},
            "kind",
            id="licence-unknown-kind",
        ),
        pytest.param({"litigation": [1]}, "litigation", id="litigation-not-text"),
        pytest.param({"family": 7}, "family", id="family-not-text"),
        pytest.param({"extra": {1, 2}}, "serialis", id="not-json"),
    ],
)
def test_an_invalid_sandbox_record_is_refused_whole(override: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        record_from_sandbox(sandbox_json(**override), FETCHED_AT)
    assert caught.value.code == "bad_answer"
    assert message in caught.value.detail


def test_a_non_mapping_is_refused() -> None:
    with pytest.raises(RegistryError):
        record_from_sandbox(["not", "a", "record"], FETCHED_AT)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(list(sandbox_json().keys())), holder=st.text(min_size=1).filter(str.strip))
def test_key_order_does_not_change_the_digest(order: list[str], holder: str) -> None:
    payload = sandbox_json(holder=holder)
    shuffled = {key: payload[key] for key in order}
    first = record_from_sandbox(payload, FETCHED_AT)
    second = record_from_sandbox(shuffled, FETCHED_AT)
    assert first.raw == second.raw == canonical_json(payload)
    assert first.raw_sha256 == second.raw_sha256
    assert first.holder == holder.strip()


@settings(max_examples=60, deadline=None)
@given(title=st.text(), other=st.text())
def test_different_answers_have_different_digests(title: str, other: str) -> None:
    first = record_from_sandbox(sandbox_json(title=title), FETCHED_AT)
    second = record_from_sandbox(sandbox_json(title=other), FETCHED_AT)
    assert (first.raw_sha256 == second.raw_sha256) == (title == other)


async def test_the_sandbox_adapter_reads_its_store() -> None:
    store = InMemorySandboxStore([sandbox_json()])
    registry = SandboxRegistry(store, clock=lambda: FETCHED_AT)
    assert isinstance(registry, RegistryAdapter)
    record = await registry.lookup("cnipa", "CN201910512345.6")
    assert record is not None
    assert record.fetched_at == FETCHED_AT
    assert await registry.lookup("cnipa", "CN000000000000.0") is None
    assert await registry.lookup("cntmo", "CN201910512345.6") is None


async def test_a_store_answering_for_another_number_is_a_bad_answer() -> None:
    class Confused:
        async def get(self, registry: str, number: str) -> dict[str, Any] | None:
            return sandbox_json("CN202010223344.1")

    with pytest.raises(RegistryError) as caught:
        await SandboxRegistry(Confused(), clock=lambda: FETCHED_AT).lookup("cnipa", "CN201910512345.6")
    assert caught.value.code == "bad_answer"


@pytest.mark.parametrize(
    ("year", "right_type", "serial", "expected"),
    [
        pytest.param(2003, 1, 102344, "CN200310102344.5", id="the-standard-s-own-example"),
        pytest.param(2019, 1, 512345, "CN201910512345.8", id="invention"),
        pytest.param(2021, 2, 834567, "CN202120834567.4", id="utility-model"),
        pytest.param(2021, 1, 4, "CN202110000004.X", id="remainder-ten-is-x"),
    ],
)
def test_cn_application_numbers_carry_their_check_digit(
    year: int, right_type: int, serial: int, expected: str
) -> None:
    assert cn_application_number(year, right_type, serial) == expected


@settings(max_examples=100, deadline=None)
@given(year=st.integers(2003, 2099), right_type=st.sampled_from([1, 2, 3]), serial=st.integers(0, 9_999_999))
def test_a_wrong_check_digit_is_detectable(year: int, right_type: int, serial: int) -> None:
    number = cn_application_number(year, right_type, serial)
    body, check = number[2:].split(".")
    assert len(body) == 12
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
    assert check == ("X" if total == 10 else str(total))


DEMO_TODAY = date(2026, 11, 22)
BANK_A = "华夏示范银行"
BANK_B = "示范农村商业银行"


def _demo() -> dict[tuple[str, str], Any]:
    records = [record_from_sandbox(r, FETCHED_AT) for r in demo_records(BANK_A, BANK_B, DEMO_TODAY)]
    return {(r.registry, r.number): r for r in records}


def _demo_lot(pledge_no: str, **consent: bool) -> ListingForCheck:
    records = _demo()
    assets = tuple(
        AssetForCheck(r.registry, r.number, r.kind, **consent)
        for r in records.values()
        if any(p.registration_no == pledge_no for p in r.pledges)
    )
    return ListingForCheck(BANK_A, pledge_no, DEMO_TODAY + timedelta(days=60), assets)


def test_demo_records_are_synthetic_valid_and_unique() -> None:
    raw = demo_records(BANK_A, BANK_B, DEMO_TODAY)
    assert len(raw) == 11
    assert len(_demo()) == len(raw)
    assert json.loads(json.dumps(raw)) == raw
    kinds = {r["kind"] for r in raw}
    assert {"invention_patent", "utility_model", "design", "trademark", "software_copyright"} <= kinds
    assert kinds <= set(ASSET_KINDS)


@pytest.mark.parametrize(
    ("pledge_no", "failing", "warned"),
    [
        pytest.param(DEMO_PLEDGE_A, set(), set(), id="bundle-passes-everything"),
        pytest.param(DEMO_PLEDGE_A_UNPAID, set(), {"fees_paid"}, id="fees-unpaid-is-a-costed-warning"),
        pytest.param(DEMO_PLEDGE_A_CO_OWNED, {"co_owner_consent"}, set(), id="co-owned-needs-consent"),
        pytest.param(DEMO_PLEDGE_A_MARKS, set(), set(), id="whole-mark-family-passes"),
        pytest.param(DEMO_PLEDGE_A_SOFTWARE, set(), set(), id="software-copyright-passes"),
        pytest.param(DEMO_PLEDGE_A_LAPSED, {"in_force"}, {"fees_paid"}, id="lapsed-utility-model"),
        pytest.param(DEMO_PLEDGE_A_LICENSED, {"disclosures"}, set(), id="licence-and-litigation-undisclosed"),
    ],
)
def test_demo_lots_show_each_scenario(pledge_no: str, failing: set[str], warned: set[str]) -> None:
    results = run_checks(_demo_lot(pledge_no), _demo())
    assert {r.check for r in hard_failures(results)} == failing
    assert {r.check for r in warnings(results)} == warned


def test_the_demo_patent_pledged_to_bank_b_fails_for_bank_a() -> None:
    records = _demo()
    target = next(r for r in records.values() if r.pledges[0].registration_no == DEMO_PLEDGE_B)
    listing = ListingForCheck(
        BANK_A, DEMO_PLEDGE_B, DEMO_TODAY, (AssetForCheck(target.registry, target.number, target.kind),)
    )
    failing = {r.check for r in hard_failures(run_checks(listing, records))}
    assert failing == {"pledge_registered", "no_other_pledge"}


def test_splitting_the_demo_mark_family_fails() -> None:
    records = _demo()
    marks = [r for r in records.values() if r.family == DEMO_MARK_FAMILY]
    assert len(marks) == 3
    listing = ListingForCheck(
        BANK_A, DEMO_PLEDGE_A_MARKS, DEMO_TODAY, (AssetForCheck("cntmo", marks[0].number, "trademark"),)
    )
    failing = hard_failures(run_checks(listing, records))
    assert [r.check for r in failing] == ["trademark_family"]


def test_the_demo_licence_passes_once_disclosed() -> None:
    lot = _demo_lot(DEMO_PLEDGE_A_LICENSED)
    disclosed = ListingForCheck(
        lot.bank_name, lot.pledge_registration_no, lot.planned_sale_date, lot.assets, Disclosures(True, True)
    )
    assert hard_failures(run_checks(disclosed, _demo())) == []


@settings(max_examples=40, deadline=None)
@given(today=st.dates(min_value=date(2024, 1, 1), max_value=date(2060, 12, 31)))
def test_the_passing_demo_lot_passes_whatever_day_it_is_seeded(today: date) -> None:
    records = {
        (r.registry, r.number): r
        for r in (record_from_sandbox(m, FETCHED_AT) for m in demo_records(BANK_A, BANK_B, today))
    }
    assets = tuple(
        AssetForCheck(r.registry, r.number, r.kind)
        for r in records.values()
        if r.pledges[0].registration_no == DEMO_PLEDGE_A
    )
    assert len(assets) == 2
    listing = ListingForCheck(BANK_A, DEMO_PLEDGE_A, today + timedelta(days=45), assets)
    results = run_checks(listing, records)
    assert hard_failures(results) == []
    assert warnings(results) == []
