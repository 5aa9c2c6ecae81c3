from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_adapters.base import AssetRecord, RegistryError, sha256_hex
from registry_adapters.epo_ops.parse import (
    kind_from_publication,
    labelled_fields,
    parse_biblio,
    parse_legal,
    parse_ops_date,
    record_from_ops,
)

from .factories import FETCHED_AT, fixture

BANK = "华夏示范银行股份有限公司苏州分行"
RURAL_BANK = "示范农村商业银行股份有限公司"
HOLDER = "示范精密铝业（苏州）有限公司"
NUMBER = "CN112345678B"
BIBLIO = fixture("biblio_cn_invention.xml")


def from_fixture(legal: str) -> AssetRecord:
    return record_from_ops(NUMBER, BIBLIO, fixture(legal), FETCHED_AT)


@pytest.mark.parametrize(
    "name",
    [
        "biblio_cn_invention.xml",
        "legal_pledge_registered.xml",
        "legal_pledge_cancelled.xml",
        "legal_lapsed.xml",
        "legal_transferred.xml",
    ],
)
def test_every_fixture_says_it_is_synthetic(name: str) -> None:
    assert fixture(name).startswith(
        b"<!-- SYNTHETIC: written for tests from the documented OPS format, not a real EPO answer -->"
    )


def test_biblio_gives_title_applicants_filing_date_and_ipc() -> None:
    biblio = parse_biblio(BIBLIO)
    assert biblio.title == "一种高强度铝合金型材的连续挤压成形方法"
    assert biblio.applicants == (HOLDER, "示范理工大学")
    assert biblio.filing_date == date(2020, 10, 15)
    assert biblio.ipc_classes == ("B21C 23/00", "C22C 21/02")
    assert (biblio.country, biblio.doc_number, biblio.publication_kind) == ("CN", "112345678", "B")


def test_biblio_falls_back_to_english_title_epodoc_names_and_plain_ipc() -> None:
    xml = (
        b'<ops:world-patent-data xmlns="http://www.epo.org/exchange" xmlns:ops="http://ops.epo.org">'
        b'<exchange-documents><exchange-document country="CN" doc-number="212345678" kind="U">'
        b"<bibliographic-data><classification-ipc><text>B21C23/00</text></classification-ipc>"
        b'<parties><applicants><applicant data-format="epodoc"><applicant-name>'
        b"<name>SHIFAN CO LTD\xe2\x80\x82[CN]</name></applicant-name></applicant></applicants></parties>"
        b'<invention-title lang="en">Cooling device</invention-title>'
        b"</bibliographic-data></exchange-document></exchange-documents></ops:world-patent-data>"
    )
    biblio = parse_biblio(xml)
    assert biblio.title == "Cooling device"
    assert biblio.applicants == ("SHIFAN CO LTD",)
    assert biblio.ipc_classes == ("B21C 23/00",)
    assert biblio.filing_date is None


def test_legal_events_come_in_date_order_with_their_kinds() -> None:
    events = parse_legal(fixture("legal_pledge_registered.xml"))
    assert [(e.code, e.date, e.kind) for e in events] == [
        ("PB01", date(2021, 1, 22), "other"),
        ("SE01", date(2021, 2, 9), "other"),
        ("GR01", date(2022, 11, 15), "granted"),
        ("PE01", date(2023, 4, 7), "pledge_registered"),
    ]
    pledge = events[-1]
    assert pledge.description.startswith("ENTRY INTO FORCE OF THE REGISTRATION OF THE CONTRACT FOR PLEDGE")
    assert (pledge.pledgee, pledge.pledgor, pledge.registration_no) == (BANK, HOLDER, "Y2023980031234")
    assert pledge.effective_on == date(2023, 3, 21)
    assert pledge.country == "CN"
    assert "Pledgee: " + BANK in pledge.text


def test_a_registered_pledge_becomes_a_registered_pledge_record() -> None:
    record = from_fixture("legal_pledge_registered.xml")
    assert record.status == "in_force"
    assert record.kind == "invention_patent"
    assert record.holder == HOLDER
    assert record.co_owners == ("示范理工大学",)
    assert record.expires_on == date(2040, 10, 14)
    assert record.fees_paid_until is None
    [pledge] = record.pledges
    assert (pledge.pledgee, pledge.registration_no, pledge.status) == (BANK, "Y2023980031234", "registered")
    assert pledge.registered_on == date(2023, 3, 21)
    assert record.source == "epo_ops"
    assert record.raw_sha256 == sha256_hex(BIBLIO + b"\n" + fixture("legal_pledge_registered.xml"))


def test_a_cancelled_pledge_is_released_and_a_later_one_stays_registered() -> None:
    record = from_fixture("legal_pledge_cancelled.xml")
    released, current = record.pledges
    assert (released.pledgee, released.registration_no, released.status) == (
        RURAL_BANK,
        "Y2022980029876",
        "released",
    )
    assert (released.registered_on, released.released_on) == (date(2022, 12, 28), date(2024, 1, 5))
    assert (current.pledgee, current.registration_no, current.status) == (
        BANK,
        "Y2024980007788",
        "registered",
    )


def test_chinese_labels_are_read_too() -> None:
    cancellation = next(e for e in parse_legal(fixture("legal_pledge_cancelled.xml")) if e.code == "PC01")
    assert (cancellation.kind, cancellation.pledgee, cancellation.registration_no) == (
        "pledge_cancelled",
        RURAL_BANK,
        "Y2022980029876",
    )
    assert cancellation.effective_on == date(2024, 1, 5)


def test_termination_for_unpaid_fees_lapses_the_patent() -> None:
    record = from_fixture("legal_lapsed.xml")
    assert record.status == "lapsed"
    assert [e.kind for e in record.events][-1] == "lapsed_non_payment"


def test_a_transfer_makes_the_new_patentee_the_sole_holder() -> None:
    record = from_fixture("legal_transferred.xml")
    assert record.holder == "示范新材料控股有限公司"
    assert record.co_owners == ()
    transfer = next(e for e in record.events if e.kind == "transferred")
    assert transfer.holder_before == f"{HOLDER}; 示范理工大学"
    [pledge] = record.pledges
    assert pledge.pledgor == "示范新材料控股有限公司"


def test_events_of_other_countries_are_parsed_but_not_applied() -> None:
    assert "US" in {e.country for e in parse_legal(fixture("legal_transferred.xml"))}
    assert {e.country for e in from_fixture("legal_transferred.xml").events} == {"CN"}


def _legal(*events: str) -> bytes:
    return (
        '<ops:world-patent-data xmlns="http://www.epo.org/exchange" xmlns:ops="http://ops.epo.org">'
        "<ops:patent-family><ops:family-member>"
        + "".join(events)
        + "</ops:family-member></ops:patent-family>"
        "</ops:world-patent-data>"
    ).encode()


def _event(code: str, day: str, text: str = "") -> str:
    return (
        f'<ops:legal code="{code:<4}" desc="D" infl="+"><ops:L001EP>CN</ops:L001EP>'
        f'<ops:L007EP>{day}</ops:L007EP><ops:L500EP><ops:L510EP desc="Free Format Text">{text}</ops:L510EP>'
        "</ops:L500EP></ops:legal>"
    )


@pytest.mark.parametrize(
    ("events", "statuses"),
    [
        pytest.param(
            [
                _event("PE01", "2023-01-01", "Pledgee: A; Registration number: R1"),
                _event("PC01", "2024-01-01", "Pledgee: A"),
            ],
            ["released"],
            id="cancellation-without-number-releases-the-only-pledge-to-that-pledgee",
        ),
        pytest.param(
            [
                _event("PE01", "2023-01-01", "Pledgee: A; Registration number: R1"),
                _event("PE01", "2023-02-01", "Pledgee: A; Registration number: R2"),
                _event("PC01", "2024-01-01", "Pledgee: A"),
            ],
            ["registered", "registered"],
            id="ambiguous-cancellation-releases-nothing",
        ),
        pytest.param(
            [
                _event("PE01", "2023-01-01", "Pledgee: A; Registration number: R1"),
                _event("PC01", "2024-01-01", "Registration number: R9"),
            ],
            ["registered"],
            id="cancellation-of-another-contract",
        ),
        pytest.param(
            [
                _event("PC01", "2024-01-01", "Registration number: R1"),
                _event("PE01", "2023-01-01", "Pledgee: A; Registration number: R1"),
            ],
            ["released"],
            id="document-order-does-not-matter",
        ),
    ],
)
def test_pledge_cancellation_matching(events: list[str], statuses: list[str]) -> None:
    record = record_from_ops(NUMBER, BIBLIO, _legal(*events), FETCHED_AT)
    assert [p.status for p in record.pledges] == statuses


@pytest.mark.parametrize(
    ("kind_code", "events", "status"),
    [
        pytest.param("B", [], "in_force", id="granted-kind-code"),
        pytest.param("A", [], "pending", id="published-application-only"),
        pytest.param("A", [_event("GR01", "2022-01-01")], "in_force", id="grant-event"),
        pytest.param("B", [_event("CX01", "2030-01-01")], "lapsed", id="term-expired"),
        pytest.param("U", [_event("EXPY", "2030-01-01")], "lapsed", id="right-terminated"),
    ],
)
def test_status_follows_grant_and_ending_events(kind_code: str, events: list[str], status: str) -> None:
    biblio = BIBLIO.replace(b'kind="B"', f'kind="{kind_code}"'.encode())
    assert record_from_ops(NUMBER, biblio, _legal(*events), FETCHED_AT).status == status


def test_a_patent_without_legal_answer_is_a_record_without_events() -> None:
    record = record_from_ops(NUMBER, BIBLIO, None, FETCHED_AT)
    assert (record.events, record.pledges, record.status) == ((), (), "in_force")


@pytest.mark.parametrize(
    ("kind_code", "kind"),
    [
        pytest.param("B", "invention_patent", id="B-invention-grant"),
        pytest.param("A", "invention_patent", id="A-application"),
        pytest.param("U", "utility_model", id="U-utility-model"),
        pytest.param("Y", "utility_model", id="Y-old-utility-model"),
        pytest.param("S", "design", id="S-design"),
        pytest.param(None, "invention_patent", id="unknown"),
    ],
)
def test_kind_from_publication(kind_code: str | None, kind: str) -> None:
    assert kind_from_publication(kind_code) == kind


@pytest.mark.parametrize(
    ("text", "day"),
    [
        pytest.param("2023-04-07", date(2023, 4, 7), id="iso"),
        pytest.param("20230407", date(2023, 4, 7), id="compact"),
        pytest.param("0001-01-01", None, id="ops-placeholder"),
        pytest.param("", None, id="blank"),
        pytest.param(None, None, id="absent"),
        pytest.param("2023-02-30", None, id="impossible"),
    ],
)
def test_parse_ops_date(text: str | None, day: date | None) -> None:
    assert parse_ops_date(text) == day


def test_labelled_fields_keep_distinct_values_in_order() -> None:
    lines = ["Pledgee: A; Pledgor: B; Registration number: R", "PLEDGEE: A", "质权人：C；登记号：R"]
    assert labelled_fields(lines) == {"pledgee": ("A", "C"), "pledgor": ("B",), "registration_no": ("R",)}


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b'<ops:world-patent-data xmlns:ops="http://ops.epo.org">&lol2;</ops:world-patent-data>',
            id="billion-laughs",
        ),
        pytest.param(
            b'<!doctype x SYSTEM "file:///etc/passwd"><x/>',
            id="external-entity-lower-case",
        ),
        pytest.param(b"<x><!ENTITY e 'x'></x>", id="stray-entity-declaration"),
        pytest.param(b"<ops:legal", id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"not xml at all", id="not-xml"),
    ],
)
def test_dtds_entities_and_malformed_xml_are_bad_answers(xml: bytes) -> None:
    for parse in (parse_legal, parse_biblio):
        with pytest.raises(RegistryError) as caught:
            parse(xml)
        assert caught.value.code == "bad_answer"


def test_a_biblio_answer_without_a_document_is_a_bad_answer() -> None:
    with pytest.raises(RegistryError) as caught:
        parse_biblio(b'<ops:world-patent-data xmlns:ops="http://ops.epo.org"/>')
    assert caught.value.code == "bad_answer"


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_escape_as_anything_but_a_registry_error(data: bytes) -> None:
    outcome: list[object] | str
    try:
        outcome = list(parse_legal(data))
    except RegistryError as error:
        outcome = error.code
    assert outcome == "bad_answer" or isinstance(outcome, list)


@settings(max_examples=60, deadline=None)
@given(
    pledgee=st.text(alphabet=st.characters(categories=["Lo", "Lu", "Nd"]), min_size=1, max_size=20),
    number=st.from_regex(r"Y20\d{11}", fullmatch=True),
)
def test_any_pledgee_and_number_round_trip_through_the_event_text(pledgee: str, number: str) -> None:
    xml = _legal(_event("PE01", "2023-01-01", f"Pledgee: {pledgee}; Registration number: {number}"))
    [event] = parse_legal(xml)
    assert (event.pledgee, event.registration_no) == (pledgee, number)
