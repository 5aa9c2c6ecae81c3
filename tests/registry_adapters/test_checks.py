from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_adapters.base import AssetRecord
from registry_adapters.checks import (
    CHECK_NAMES,
    AssetForCheck,
    CheckResult,
    Disclosures,
    ListingForCheck,
    arrears_estimate,
    family_members_from_records,
    fold_name,
    format_fen,
    hard_failures,
    run_checks,
    warnings,
)

from .factories import BANK, OTHER_BANK, PLEDGE_NO, SALE, asset, keyed, listing, record

PATENT = "CN201910512345.8"


def only(results: list[CheckResult], check: str, number: str | None = PATENT) -> CheckResult:
    [found] = [r for r in results if r.check == check and r.asset == number]
    return found


def check_one(check: str, *, the_listing: ListingForCheck | None = None, **record_fields: Any) -> CheckResult:
    the_record = record(PATENT, **record_fields)
    return only(run_checks(the_listing or listing(asset(PATENT)), keyed(the_record)), check)


def test_a_clean_listing_passes_every_check_in_a_stable_order() -> None:
    the_record = record(PATENT)
    results = run_checks(listing(asset(PATENT)), keyed(the_record))
    assert [r.check for r in results] == [
        "lot_has_assets",
        "found",
        "kind_matches",
        "pledge_registered",
        "no_other_pledge",
        "in_force",
        "fees_paid",
        "co_owner_consent",
        "disclosures",
    ]
    assert all(r.ok for r in results)
    assert {r.evidence_sha256 for r in results[1:]} == {the_record.raw_sha256}
    assert results[0].asset is None
    assert all(r.check in CHECK_NAMES for r in results)
    assert all(r.cost is None for r in results)


def test_an_empty_lot_fails() -> None:
    empty = ListingForCheck(BANK, PLEDGE_NO, SALE, ())
    assert [(r.check, r.ok) for r in run_checks(empty, {})] == [("lot_has_assets", False)]


@pytest.mark.parametrize(
    "records",
    [
        pytest.param({}, id="absent-from-the-map"),
        pytest.param({("cnipa", PATENT): None}, id="registry-said-none"),
    ],
)
def test_a_missing_record_fails_found_and_nothing_else_is_judged(records: dict[Any, Any]) -> None:
    results = run_checks(listing(asset(PATENT)), records)
    assert [(r.check, r.ok, r.severity, r.evidence_sha256) for r in results[1:]] == [
        ("found", False, "hard", None)
    ]
    assert PATENT in results[1].detail


@pytest.mark.parametrize(
    ("listed", "registered", "ok"),
    [
        pytest.param("invention_patent", "invention_patent", True, id="same-kind"),
        pytest.param("invention_patent", "utility_model", False, id="listed-as-invention-but-utility-model"),
    ],
)
def test_kind_matches(listed: str, registered: str, ok: bool) -> None:
    result = check_one("kind_matches", the_listing=listing(asset(PATENT, kind=listed)), kind=registered)  # type: ignore[arg-type]
    assert result.ok is ok


def pledge(
    pledgee: str = BANK, number: str = PLEDGE_NO, status: str = "registered", **more: str
) -> dict[str, str]:
    return {"pledgee": pledgee, "registration_no": number, "status": status, **more}


@pytest.mark.parametrize(
    ("pledges", "ok", "detail"),
    [
        pytest.param([pledge()], True, "registered to", id="registered-to-the-bank"),
        pytest.param(
            [pledge(pledgee="华夏示范银行股份有限公司苏州分行 ")],
            True,
            "registered to",
            id="trailing-space-in-name",
        ),
        pytest.param(
            [pledge(pledgee="示范银行（苏州）分行")],
            False,
            "not 华夏",
            id="another-name-under-the-number",
        ),
        pytest.param(
            [pledge(status="released", released_on="2026-01-05")],
            False,
            "released on 2026-01-05",
            id="released",
        ),
        pytest.param(
            [pledge(number="Y2020980000001")], False, "under Y2020980000001", id="bank-but-other-number"
        ),
        pytest.param([], False, "no registered pledge", id="no-pledge-at-all"),
        pytest.param([pledge(number="y2025980000101")], True, "registered to", id="number-case-folded"),
    ],
)
def test_pledge_registered(pledges: list[dict[str, str]], ok: bool, detail: str) -> None:
    result = check_one("pledge_registered", pledges=pledges)
    assert result.ok is ok
    assert result.severity == "hard"
    assert detail in result.detail


def test_full_width_and_half_width_parentheses_name_the_same_bank() -> None:
    assert fold_name("示范银行（苏州）分行") == fold_name("示范银行(苏州)分行 ")
    result = check_one(
        "pledge_registered",
        the_listing=listing(asset(PATENT), bank="示范银行(苏州)分行"),
        pledges=[pledge(pledgee="示范银行（苏州）分行")],
    )
    assert result.ok


@pytest.mark.parametrize(
    ("pledges", "ok"),
    [
        pytest.param([pledge()], True, id="only-the-bank"),
        pytest.param(
            [pledge(), pledge(pledgee=OTHER_BANK, number="Y2024980000203")], False, id="second-pledgee"
        ),
        pytest.param(
            [pledge(), pledge(pledgee=OTHER_BANK, number="Y2020980000001", status="released")],
            True,
            id="other-pledge-released",
        ),
        pytest.param([pledge(), pledge(number="Y2024980000999")], True, id="same-bank-second-contract"),
    ],
)
def test_no_other_pledge(pledges: list[dict[str, str]], ok: bool) -> None:
    result = check_one("no_other_pledge", pledges=pledges)
    assert result.ok is ok
    if not ok:
        assert OTHER_BANK in result.detail


@pytest.mark.parametrize(
    ("fields", "ok", "detail"),
    [
        pytest.param({}, True, "4584 days of term remain", id="in-force-years-left"),
        pytest.param({"status": "lapsed"}, False, "status is lapsed", id="lapsed"),
        pytest.param({"status": "pending"}, False, "status is pending", id="not-granted"),
        pytest.param({"expires_on": "2026-10-31"}, True, "1 days of term remain", id="expires-the-day-after"),
        pytest.param({"expires_on": "2026-10-30"}, False, "0 days before or on", id="expires-on-sale-day"),
        pytest.param({"expires_on": "2026-09-30"}, False, "30 days before", id="expired-before-sale"),
        pytest.param({"expires_on": None}, True, "2039-05-19", id="patent-term-from-filing-date"),
        pytest.param(
            {"expires_on": None, "filed_on": None}, False, "not on record", id="patent-term-unknown"
        ),
    ],
)
def test_in_force(fields: dict[str, Any], ok: bool, detail: str) -> None:
    result = check_one("in_force", **fields)
    assert result.ok is ok
    assert result.severity == "hard"
    assert detail in result.detail


def test_a_copyright_without_a_fixed_term_is_in_force_on_its_status() -> None:
    software = record(
        "2022SR0456789", registry="ccpc", kind="software_copyright", expires_on=None, filed_on=None
    )
    results = run_checks(listing(asset("2022SR0456789", "software_copyright", "ccpc")), keyed(software))
    assert only(results, "in_force", "2022SR0456789").ok


@pytest.mark.parametrize(
    ("fields", "ok", "cost"),
    [
        pytest.param({"fees_paid_until": "2026-10-30"}, True, None, id="paid-to-the-sale-day"),
        pytest.param({"fees_paid_until": "2027-05-19"}, True, None, id="paid-beyond"),
        # filed 2019-05-20: year 8 starts 2026-05-20 at 2 000 yuan (7-9), plus the 25 % late fee.
        pytest.param({"fees_paid_until": "2026-05-19"}, False, 250_000, id="one-year-in-arrears"),
        # years 7 (2025-05-20, 2 000) and 8 (2026-05-20, 2 000), each plus 25 %.
        pytest.param({"fees_paid_until": "2025-05-19"}, False, 500_000, id="two-years-in-arrears"),
        pytest.param({"fees_paid_until": None}, False, None, id="registry-does-not-report-fees"),
    ],
)
def test_fees_paid_is_a_costed_warning(fields: dict[str, Any], ok: bool, cost: int | None) -> None:
    result = check_one("fees_paid", **fields)
    assert (result.ok, result.severity, result.cost) == (ok, "warning", cost)
    if cost:
        assert format_fen(cost) in result.detail


def test_arrears_past_the_grace_period_say_the_right_ends() -> None:
    result = check_one("fees_paid", fees_paid_until="2025-05-19")
    assert "grace period" in result.detail
    assert "grace period" not in check_one("fees_paid", fees_paid_until="2026-05-19").detail


def test_kinds_without_annual_fees_pass_fees_paid() -> None:
    mark = record(
        "40123456", registry="cntmo", kind="trademark", fees_paid_until=None, expires_on="2030-03-13"
    )
    results = run_checks(listing(asset("40123456", "trademark", "cntmo")), keyed(mark))
    assert only(results, "fees_paid", "40123456").ok


@pytest.mark.parametrize(
    ("kind", "filed_on", "paid", "sale", "expected"),
    [
        pytest.param(
            "invention_patent",
            date(2024, 1, 10),
            date(2025, 1, 9),
            date(2025, 3, 1),
            112_500,
            id="invention-year-2",
        ),
        pytest.param(
            "invention_patent",
            date(2010, 1, 10),
            date(2025, 1, 9),
            date(2025, 3, 1),
            1_000_000,
            id="invention-year-16",
        ),
        pytest.param(
            "utility_model",
            date(2018, 1, 10),
            date(2025, 1, 9),
            date(2025, 3, 1),
            150_000,
            id="utility-model-year-8",
        ),
        pytest.param(
            "design", date(2013, 1, 10), date(2025, 1, 9), date(2025, 3, 1), 375_000, id="design-year-13"
        ),
        pytest.param(
            "invention_patent",
            None,
            date(2024, 12, 31),
            date(2026, 6, 1),
            225_000,
            id="no-filing-date-two-years",
        ),
        pytest.param(
            "trademark", date(2020, 1, 1), date(2021, 1, 1), date(2025, 1, 1), 0, id="no-annual-fees"
        ),
        pytest.param(
            "invention_patent", date(2020, 1, 1), date(2025, 1, 1), date(2025, 1, 1), 0, id="paid-to-the-day"
        ),
    ],
)
def test_arrears_estimate_table(
    kind: str, filed_on: date | None, paid: date, sale: date, expected: int
) -> None:
    assert arrears_estimate(kind, filed_on, paid, sale) == expected  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["invention_patent", "utility_model", "design"]),
    filed_on=st.one_of(st.none(), st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1))),
    paid=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    sale=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    later=st.integers(min_value=0, max_value=3_000),
)
def test_arrears_grow_with_the_sale_date_and_vanish_when_paid(
    kind: str, filed_on: date | None, paid: date, sale: date, later: int
) -> None:
    cost = arrears_estimate(kind, filed_on, paid, sale)  # type: ignore[arg-type]
    assert isinstance(cost, int)
    assert (cost == 0) == (paid >= sale)
    assert arrears_estimate(kind, filed_on, paid, sale + timedelta(days=later)) >= cost  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("co_owners", "consent", "ok"),
    [
        pytest.param([], False, True, id="sole-holder"),
        pytest.param(["示范理工大学"], True, True, id="co-owned-with-consent"),
        pytest.param(["示范理工大学"], False, False, id="co-owned-without-consent"),
    ],
)
def test_co_owner_consent(co_owners: list[str], consent: bool, ok: bool) -> None:
    the_listing = listing(asset(PATENT, co_owner_consent=consent))
    result = check_one("co_owner_consent", the_listing=the_listing, co_owners=co_owners)
    assert result.ok is ok
    for name in co_owners:
        assert name in result.detail


LICENCE = {"licensee": "示范门窗制造有限公司", "kind": "exclusive", "until": "2028-01-31"}


@pytest.mark.parametrize(
    ("fields", "disclosures", "ok"),
    [
        pytest.param({}, Disclosures(), True, id="nothing-to-disclose"),
        pytest.param({"licences": [LICENCE]}, Disclosures(), False, id="licence-undisclosed"),
        pytest.param(
            {"licences": [LICENCE]}, Disclosures(licences_disclosed=True), True, id="licence-disclosed"
        ),
        pytest.param(
            {"licences": [{**LICENCE, "until": "2026-06-30"}]},
            Disclosures(),
            True,
            id="licence-over-before-sale",
        ),
        pytest.param(
            {"licences": [{**LICENCE, "kind": "ordinary", "until": None}]},
            Disclosures(),
            False,
            id="open-ended-licence",
        ),
        pytest.param(
            {"litigation": ["无效宣告请求审查中"]}, Disclosures(), False, id="litigation-undisclosed"
        ),
        pytest.param(
            {"litigation": ["无效宣告请求审查中"]},
            Disclosures(litigation_disclosed=True),
            True,
            id="litigation-disclosed",
        ),
        pytest.param(
            {"litigation": ["x"], "licences": [LICENCE]},
            Disclosures(licences_disclosed=True),
            False,
            id="half-disclosed",
        ),
    ],
)
def test_disclosures(fields: dict[str, Any], disclosures: Disclosures, ok: bool) -> None:
    result = check_one("disclosures", the_listing=listing(asset(PATENT), disclosures=disclosures), **fields)
    assert (result.ok, result.severity) == (ok, "hard")


MARKS = ("40123456", "40123457", "40123458")


def marks(family: str | None = "TMF-LONGMEN-06") -> list[AssetRecord]:
    return [
        record(
            number,
            registry="cntmo",
            kind="trademark",
            family=family,
            expires_on="2030-03-13",
            fees_paid_until=None,
        )
        for number in MARKS
    ]


def mark_lot(*numbers: str, family_key: str | None = None) -> ListingForCheck:
    return listing(*(asset(n, "trademark", "cntmo", family_key=family_key) for n in numbers))


@pytest.mark.parametrize(
    ("lot", "ok"),
    [
        pytest.param(MARKS, True, id="whole-family"),
        pytest.param(MARKS[:2], False, id="one-member-left-out"),
        pytest.param(MARKS[:1], False, id="two-members-left-out"),
    ],
)
def test_a_lot_may_not_split_a_mark_family(lot: tuple[str, ...], ok: bool) -> None:
    results = run_checks(mark_lot(*lot), keyed(*marks()))
    family_results = [r for r in results if r.check == "trademark_family"]
    assert len(family_results) == len(lot)
    assert all(r.ok is ok for r in family_results)
    if not ok:
        assert MARKS[-1] in family_results[0].detail


def test_family_members_outside_the_record_set_come_from_the_registry_map() -> None:
    in_lot = marks()[:1]
    family_map = {"TMF-LONGMEN-06": {("cntmo", n) for n in MARKS}}
    results = run_checks(mark_lot(MARKS[0]), keyed(*in_lot), family_map)
    assert not only(results, "trademark_family", MARKS[0]).ok
    assert run_checks(mark_lot(MARKS[0]), keyed(*in_lot)) == run_checks(
        mark_lot(MARKS[0]), keyed(*in_lot), {}
    )
    assert only(run_checks(mark_lot(MARKS[0]), keyed(*in_lot)), "trademark_family", MARKS[0]).ok


def test_a_family_the_listing_declares_is_checked_against_the_registry_map() -> None:
    unlabelled = marks(family=None)
    family_map = {"LISTED": {("cntmo", n) for n in MARKS}}
    results = run_checks(mark_lot(*MARKS[:2], family_key="LISTED"), keyed(*unlabelled), family_map)
    assert [r.ok for r in results if r.check == "trademark_family"] == [False, False]


def test_assets_outside_any_family_get_no_family_check() -> None:
    results = run_checks(listing(asset(PATENT)), keyed(record(PATENT)))
    assert "trademark_family" not in {r.check for r in results}


def test_family_members_from_records_groups_by_family() -> None:
    assert family_members_from_records([*marks(), record(PATENT), None]) == {
        "TMF-LONGMEN-06": frozenset(("cntmo", n) for n in MARKS)
    }


def test_hard_failures_and_warnings_split_the_failures() -> None:
    results = [
        CheckResult("a", "in_force", False, "hard", "x"),
        CheckResult("a", "fees_paid", False, "warning", "y", cost=1),
        CheckResult("a", "found", True, "hard", "z"),
    ]
    assert hard_failures(results) == [results[0]]
    assert warnings(results) == [results[1]]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        pytest.param(0, "¥0.00", id="zero"),
        pytest.param(250_000, "¥2,500.00", id="thousands"),
        pytest.param(5, "¥0.05", id="fen"),
    ],
)
def test_format_fen(amount: int, text: str) -> None:
    assert format_fen(amount) == text


DAY = st.dates(min_value=date(2020, 1, 1), max_value=date(2045, 12, 31))
NAME = st.text(alphabet=st.characters(categories=["Lo", "Lu", "Ll", "Nd"]), min_size=1, max_size=12)


@st.composite
def passing_case(draw: st.DrawFn) -> tuple[ListingForCheck, dict[tuple[str, str], AssetRecord | None]]:
    sale = draw(DAY)
    bank = draw(NAME)
    pledge_no = "Y" + draw(st.text(alphabet="0123456789", min_size=6, max_size=13))
    count = draw(st.integers(min_value=1, max_value=4))
    records = []
    for index in range(count):
        kind = draw(st.sampled_from(["invention_patent", "utility_model", "design", "software_copyright"]))
        records.append(
            record(
                f"N{index}",
                kind=kind,
                expires_on=(sale + timedelta(days=draw(st.integers(1, 7000)))).isoformat(),
                fees_paid_until=(sale + timedelta(days=draw(st.integers(0, 400)))).isoformat(),
                pledges=[pledge(pledgee=bank, number=pledge_no)],
            )
        )
    the_listing = ListingForCheck(
        bank, pledge_no, sale, tuple(AssetForCheck(r.registry, r.number, r.kind) for r in records)
    )
    return the_listing, keyed(*records)


@settings(max_examples=80, deadline=None)
@given(case=passing_case())
def test_a_lot_meeting_the_api_conditions_passes_every_check(
    case: tuple[ListingForCheck, dict[tuple[str, str], AssetRecord | None]],
) -> None:
    the_listing, records = case
    results = run_checks(the_listing, records)
    assert hard_failures(results) == []
    assert warnings(results) == []
    assert results == run_checks(the_listing, records)


BREAKS: dict[str, dict[str, Any]] = {
    "pledge_registered": {"pledges": []},
    "no_other_pledge": {"extra_pledge": True},
    "in_force": {"status": "lapsed"},
    "co_owner_consent": {"co_owners": ["示范理工大学"]},
    "disclosures": {"litigation": ["pending"]},
    "kind_matches": {"kind": "design"},
}


@settings(max_examples=80, deadline=None)
@given(case=passing_case(), broken=st.sampled_from(sorted(BREAKS)), data=st.data())
def test_breaking_one_condition_fails_exactly_that_hard_check(
    case: tuple[ListingForCheck, dict[tuple[str, str], AssetRecord | None]], broken: str, data: st.DataObject
) -> None:
    the_listing, records = case
    target = data.draw(st.sampled_from(the_listing.assets))
    original = records[(target.registry, target.number)]
    assert original is not None
    fields: dict[str, Any] = dict(BREAKS[broken])
    if fields.pop("extra_pledge", False):
        fields["pledges"] = [
            pledge(pledgee=the_listing.bank_name, number=the_listing.pledge_registration_no),
            pledge(pledgee=the_listing.bank_name + "X", number="Z1"),
        ]
    if broken == "kind_matches" and original.kind == "design":
        fields["kind"] = "utility_model"
    replacement = record(
        original.number,
        kind=fields.pop("kind", original.kind),
        expires_on=original.expires_on.isoformat() if original.expires_on else None,
        fees_paid_until=original.fees_paid_until.isoformat() if original.fees_paid_until else None,
        pledges=fields.pop(
            "pledges", [pledge(pledgee=the_listing.bank_name, number=the_listing.pledge_registration_no)]
        ),
        **fields,
    )
    failing = hard_failures(
        run_checks(the_listing, {**records, (target.registry, target.number): replacement})
    )
    assert {(r.asset, r.check) for r in failing} == {(target.number, broken)}
