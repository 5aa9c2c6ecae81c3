"""Pure parsing of EPO OPS answers (INPADOC legal events, bibliographic data) into records.

Invariants
- Pure: bytes in, values out; no I/O, no clock (``fetched_at`` is passed in).
- XML carrying a DTD or an entity declaration is refused (``RegistryError("bad_answer")``) before
  it reaches the parser, so entity-expansion bombs never expand; the stdlib parser is then safe
  for the rest (no external entities without a DTD). Malformed XML is ``bad_answer`` too, never a
  ``ParseError``.
- Events come back in date order (undated last, ties in document order) and a record's pledges,
  holder and status are derived from that order only.

What is verified and what is assumed (OPS 3.2 as documented and as seen in published captures):
- verified: each event is an ``ops:legal`` element with ``code`` (space-padded to 4 characters),
  ``desc``, ``infl`` attributes, then ``ops:pre`` lines and ``ops:L001EP``… fields, where
  ``L001EP`` is the country, ``L007EP`` the gazette date (``YYYY-MM-DD``) and ``L5xxEP`` the
  event's details, each with a ``desc`` naming the field; CN codes ``GR01``/``C14`` (grant),
  ``CF01`` (termination for non-payment of the annual fee), ``TR01``/``C41`` (transfer),
  ``CX01``/``EXPY`` (expiry or termination) appear in OPS answers for CN documents.
- assumed (not found in any public capture): the CN pledge codes ``PE01`` (entry into force of
  the registration of the pledge contract) and ``PC01`` (cancellation of that registration), and
  that an event's text carries CNIPA's labelled fields in English or Chinese:
  ``Pledgee:``/``质权人：``, ``Pledgor:``/``出质人：``, ``Registration number:``/``登记号：``,
  ``Patentee after:``/``变更后权利人：``, ``Patentee before:``/``变更前权利人：`` (repeated once
  per patentee), ``Effective date of registration:``/``登记生效日：`` and ``Date of
  cancellation:``/``注销日：`` (``YYYYMMDD``), fields separated by ``;``, either inside an
  ``ops:pre`` line or an ``L5xxEP`` field, or as an ``L5xxEP`` field whose ``desc`` is the label.
  A pledge's dates are those effective dates, else the gazette date.
- not derived: annual fees (OPS does not report them, so ``fees_paid_until`` is ``None``),
  licences and litigation (not read from INPADOC here), and a restoration of rights after ``CF01``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from registry_adapters.base import (
    AssetKind,
    AssetRecord,
    AssetStatus,
    EventKind,
    LegalEvent,
    PledgeRecord,
    RegistryError,
    statutory_expiry,
)

SOURCE = "epo_ops"
OPS_NS = "http://ops.epo.org"
EXCHANGE_NS = "http://www.epo.org/exchange"

EVENT_KINDS: dict[str, EventKind] = {
    "PE01": "pledge_registered",
    "PC01": "pledge_cancelled",
    "CF01": "lapsed_non_payment",
    "TR01": "transferred",
    "C41": "transferred",
    "GR01": "granted",
    "C14": "granted",
}
ENDING_CODES = frozenset({"CX01", "EXPY"})
GRANTED_KIND_CODES = frozenset({"B", "C", "U", "Y", "S"})

_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_FIELD = re.compile(r"L5\d\dEP")
_LABELS: dict[str, tuple[str, ...]] = {
    "pledgee": ("Pledgee", "质权人"),
    "pledgor": ("Pledgor", "出质人"),
    "registration_no": ("Registration number", "Registration No.", "登记号"),
    "holder_after": ("Patentee after", "变更后权利人", "变更后专利权人"),
    "holder_before": ("Patentee before", "变更前权利人", "变更前专利权人"),
    "effective_on": ("Effective date of registration", "登记生效日", "Date of cancellation", "注销日"),
}
_MULTI_VALUED = frozenset({"holder_after", "holder_before"})
_LABEL_OF = {label.casefold(): name for name, labels in _LABELS.items() for label in labels}
_LABEL_RE = "|".join(re.escape(label) for labels in _LABELS.values() for label in labels)
_LABELLED = re.compile(
    rf"(?P<label>{_LABEL_RE})\s*[:：]\s*(?P<value>.*?)\s*(?=[;；\n]|$|(?:{_LABEL_RE})\s*[:：])",
    re.IGNORECASE,
)
_IPC = re.compile(r"\s*([A-H]\d{2}[A-Z])\s*(\d{1,4})\s*/\s*(\d{1,6})")
_COUNTRY_TAG = re.compile(r"\s*\[[A-Z]{2}\]\s*$")


@dataclass(frozen=True, slots=True)
class BiblioData:
    title: str
    applicants: tuple[str, ...]
    filing_date: date | None
    ipc_classes: tuple[str, ...]
    country: str | None = None
    doc_number: str | None = None
    publication_kind: str | None = None


def _ops(tag: str) -> str:
    return f"{{{OPS_NS}}}{tag}"


def _ex(tag: str) -> str:
    return f"{{{EXCHANGE_NS}}}{tag}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml(xml: bytes) -> ET.Element:
    """The root element of an OPS answer; DTDs, entity declarations and malformed XML refused."""
    if not isinstance(xml, bytes):
        raise RegistryError("bad_answer", "OPS answer must be bytes")
    if _DTD.search(xml):
        raise RegistryError("bad_answer", "OPS answer carries a DTD or entity declaration; refused")
    try:
        return ET.fromstring(xml)  # noqa: S314 - DTDs and entities are refused above
    except ET.ParseError as exc:
        raise RegistryError("bad_answer", f"OPS answer is not well-formed XML: {exc}") from exc


def _clean(text: str | None) -> str:
    return " ".join((text or "").replace("\u2002", " ").split())


def parse_ops_date(text: str | None) -> date | None:
    """``YYYY-MM-DD`` or ``YYYYMMDD``; the OPS placeholder ``0001-01-01`` and blanks are ``None``."""
    value = (text or "").strip()
    if len(value) == 8 and value.isdigit():
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.year <= 1 else parsed


def _event_lines(legal: ET.Element) -> list[str]:
    lines = [_clean(pre.text) for pre in legal.findall(_ops("pre"))]
    for element in legal.iter():
        if element.tag.startswith(f"{{{OPS_NS}}}") and _FIELD.fullmatch(_local(element.tag)):
            value = _clean(element.text)
            if value:
                label = _clean(element.get("desc"))
                lines.append(f"{label}: {value}" if label else value)
    return [line for line in lines if line]


def labelled_fields(lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The distinct values of each known label (``Pledgee: …`` and the like) in ``lines``, in order."""
    found: dict[str, list[str]] = {}
    for line in lines:
        for match in _LABELLED.finditer(line):
            name = _LABEL_OF[match.group("label").casefold()]
            value = match.group("value").strip()
            values = found.setdefault(name, [])
            if value and value not in values:
                values.append(value)
    return {name: tuple(values) for name, values in found.items() if values}


def _event(legal: ET.Element) -> LegalEvent:
    code = (legal.get("code") or "").strip()
    lines = _event_lines(legal)
    fields = labelled_fields(lines)

    def field(name: str) -> str | None:
        values = fields.get(name, ())
        if not values:
            return None
        return "; ".join(values) if name in _MULTI_VALUED else values[0]

    effective = field("effective_on")
    return LegalEvent(
        code=code,
        date=parse_ops_date(legal.findtext(_ops("L007EP"))),
        description=_clean(legal.get("desc")),
        kind=EVENT_KINDS.get(code, "other"),
        text="\n".join(lines),
        country=_clean(legal.findtext(_ops("L001EP"))) or None,
        pledgee=field("pledgee"),
        pledgor=field("pledgor"),
        registration_no=field("registration_no"),
        holder_before=field("holder_before"),
        holder_after=field("holder_after"),
        effective_on=parse_ops_date(effective) if effective else None,
    )


def parse_legal(xml: bytes) -> list[LegalEvent]:
    """Every ``ops:legal`` event of an OPS legal answer, in date order (undated last)."""
    root = parse_xml(xml)
    events = [_event(legal) for legal in root.iter(_ops("legal"))]
    return sorted(events, key=lambda event: (event.date is None, event.date or date.min))


def _first_exchange_document(root: ET.Element) -> ET.Element:
    for document in root.iter(_ex("exchange-document")):
        return document
    raise RegistryError("bad_answer", "OPS biblio answer holds no exchange-document")


def _title(bibliographic: ET.Element) -> str:
    titles = {
        (title.get("lang") or "").lower(): _clean(title.text)
        for title in bibliographic.findall(_ex("invention-title"))
        if _clean(title.text)
    }
    for lang in ("zh", "en"):
        if lang in titles:
            return titles[lang]
    return next(iter(titles.values()), "")


def _applicants(bibliographic: ET.Element) -> tuple[str, ...]:
    by_format: dict[str, list[str]] = {}
    for applicant in bibliographic.iter(_ex("applicant")):
        name = _COUNTRY_TAG.sub("", _clean(applicant.findtext(f"{_ex('applicant-name')}/{_ex('name')}")))
        if name:
            names = by_format.setdefault(applicant.get("data-format") or "", [])
            if name not in names:
                names.append(name)
    for data_format in ("original", "epodoc"):
        if by_format.get(data_format):
            return tuple(by_format[data_format])
    return tuple(next(iter(by_format.values()), ()))


def _filing_date(bibliographic: ET.Element) -> date | None:
    reference = bibliographic.find(_ex("application-reference"))
    if reference is None:
        return None
    for document_id in reference.findall(_ex("document-id")):
        filed = parse_ops_date(document_id.findtext(_ex("date")))
        if filed is not None:
            return filed
    return None


def _ipc_classes(bibliographic: ET.Element) -> tuple[str, ...]:
    texts = [
        element.text or ""
        for element in bibliographic.findall(
            f"{_ex('classifications-ipcr')}/{_ex('classification-ipcr')}/{_ex('text')}"
        )
    ]
    if not texts:
        texts = [
            element.text or ""
            for element in bibliographic.findall(f"{_ex('classification-ipc')}/{_ex('text')}")
        ]
    classes: list[str] = []
    for text in texts:
        match = _IPC.match(text)
        if match:
            symbol = f"{match.group(1)} {match.group(2)}/{match.group(3)}"
            if symbol not in classes:
                classes.append(symbol)
    return tuple(classes)


def parse_biblio(xml: bytes) -> BiblioData:
    """Title (Chinese, else English, else any), applicants, filing date and IPC classes."""
    document = _first_exchange_document(parse_xml(xml))
    bibliographic = document.find(_ex("bibliographic-data"))
    if bibliographic is None:
        raise RegistryError("bad_answer", "OPS biblio answer holds no bibliographic-data")
    return BiblioData(
        title=_title(bibliographic),
        applicants=_applicants(bibliographic),
        filing_date=_filing_date(bibliographic),
        ipc_classes=_ipc_classes(bibliographic),
        country=document.get("country"),
        doc_number=document.get("doc-number"),
        publication_kind=document.get("kind"),
    )


def kind_from_publication(kind_code: str | None) -> AssetKind:
    """CN kind codes: ``U``/``Y`` utility model, ``S``/``D`` design, anything else invention."""
    first = (kind_code or "").strip()[:1].upper()
    if first in {"U", "Y"}:
        return "utility_model"
    if first in {"S", "D"}:
        return "design"
    return "invention_patent"


def _split_holders(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in re.split(r"[;；]", text) if name.strip())


def _release(open_pledges: dict[str, PledgeRecord], event: LegalEvent) -> tuple[str, PledgeRecord] | None:
    if event.registration_no and event.registration_no in open_pledges:
        return event.registration_no, open_pledges[event.registration_no]
    if event.registration_no:
        return None
    candidates = [
        (key, pledge)
        for key, pledge in open_pledges.items()
        if event.pledgee is None or pledge.pledgee == event.pledgee
    ]
    return candidates[0] if len(candidates) == 1 else None


def record_from_ops(
    number: str, biblio_xml: bytes, legal_xml: bytes | None, fetched_at: datetime
) -> AssetRecord:
    """An ``AssetRecord`` for a CN patent from its OPS biblio and legal answers.

    Holder and co-owners start as the applicants and follow each transfer whose text names the new
    patentee. A ``PE01`` opens a pledge under its registration number; a later ``PC01`` with the
    same number releases it (without a number: the only open pledge to the same pledgee). ``CF01``,
    ``CX01`` or ``EXPY`` make the record lapsed; without a grant event or a granted kind code the
    record is ``pending``. ``raw`` is the biblio answer, a newline, then the legal answer.
    """
    biblio = parse_biblio(biblio_xml)
    events = parse_legal(legal_xml) if legal_xml else []
    if biblio.country:
        events = [event for event in events if event.country in (None, biblio.country)]
    kind = kind_from_publication(biblio.publication_kind)
    holder, *co_owners = biblio.applicants or ("",)
    granted = (biblio.publication_kind or "")[:1].upper() in GRANTED_KIND_CODES
    ended = False
    pledges: dict[str, PledgeRecord] = {}
    for event in events:
        if event.kind == "granted":
            granted = True
        elif event.kind == "lapsed_non_payment" or event.code in ENDING_CODES:
            ended = True
        elif event.kind == "transferred" and event.holder_after:
            holder, *co_owners = _split_holders(event.holder_after)
        elif event.kind == "pledge_registered":
            key = event.registration_no or f"{event.code}@{event.date}"
            pledges[key] = PledgeRecord(
                pledgee=event.pledgee or "",
                registration_no=event.registration_no or "",
                status="registered",
                registered_on=event.effective_on or event.date,
                pledgor=event.pledgor,
            )
        elif event.kind == "pledge_cancelled":
            open_pledges = {k: p for k, p in pledges.items() if p.status == "registered"}
            released = _release(open_pledges, event)
            if released is not None:
                key, pledge = released
                pledges[key] = PledgeRecord(
                    pledgee=pledge.pledgee,
                    registration_no=pledge.registration_no,
                    status="released",
                    registered_on=pledge.registered_on,
                    pledgor=pledge.pledgor,
                    released_on=event.effective_on or event.date,
                )
    status: AssetStatus = "lapsed" if ended else ("in_force" if granted else "pending")
    return AssetRecord(
        registry="cnipa",
        number=number,
        kind=kind,
        title=biblio.title,
        holder=holder,
        co_owners=tuple(co_owners),
        status=status,
        filed_on=biblio.filing_date,
        expires_on=statutory_expiry(kind, biblio.filing_date),
        fees_paid_until=None,
        pledges=tuple(pledges.values()),
        events=tuple(events),
        raw=biblio_xml + b"\n" + (legal_xml or b""),
        fetched_at=fetched_at,
        source=SOURCE,
    )
