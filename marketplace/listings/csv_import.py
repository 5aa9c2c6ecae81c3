"""Bulk listing drafts from a CSV file, run as a job with a progress report.

The design (the simplest honest one): ``POST /api/listings/import`` parses the file's structure
(UTF-8, a header with the required columns, at most :data:`MAX_ROWS` rows) and answers ``202``
with a ``job_id`` at once; a task on the node that took the request then validates and creates
the rows. Progress (``processed`` of ``total`` rows) and the final report are kept in the app's
key-value store (a file store in the embedded set-up, Redis in production), so any node answers
``GET /api/listings/import/{job_id}`` — only to users of the bank that started the job and to
operators.

Invariants:
- every valid row becomes one draft of the caller's bank, and every invalid row is reported as
  ``{row, field, reason}`` (``row`` counts the header as row 1; ``field`` is the CSV column, or
  ``row`` when the problem spans columns) without stopping the others;
- all drafts of one file are written in ONE transaction: if the job fails (the node stops, the
  database goes away) nothing of it is written and the job ends ``failed`` with no ``created``;
- a row is validated by the same rules as ``POST /api/listings`` (:func:`create_listing`);
- while the job runs on SQLite it holds the single write lock, so other writers wait for it.

Columns (``*`` required; amounts are integers in minor units, dates ``YYYY-MM-DD``, booleans
``yes``/``no``; an organisation is its id or its exact name):

``title*, currency, loan_ref*, pledgor_name*, claim*, default_date*, pledge_registry*,
pledge_registration_no*, valuation_amount*, valuation_method*`` (internal|external)``,
valuation_agency_org, valuation_report_date, industry, ipc_class, planned_sale_date``;
settlement: ``bank_ratio_bp*`` and, per role R in guarantor, risk_pool, valuer, insurer,
``R_org, R_ratio_bp, R_advance``; ``costs`` as ``kind=amount;kind=amount``;
disclosures: ``licences`` as ``asset|licensee|kind|until;…``, ``litigation`` as ``case;case``,
``none_known``; assets: for n = 1, 2, … ``assetN_kind*, assetN_number*, assetN_title*,
assetN_registry, assetN_co_owner_consent, assetN_family_key`` (at least asset 1).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import msgspec
import structlog
from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.models import Org
from marketplace.accounts.security import Principal
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import DomainError, Forbidden, Invalid, NotFound
from marketplace.listings.schemas import ListingCreate
from marketplace.listings.service import create_listing

log = structlog.get_logger("marketplace.listings.import")

MAX_ROWS: Final = 5000
PROGRESS_EVERY: Final = 25
JOB_TTL_SECONDS: Final = 24 * 3600
PARTY_ROLES: Final = ("guarantor", "risk_pool", "valuer", "insurer")
REQUIRED_COLUMNS: Final = (
    "title",
    "loan_ref",
    "pledgor_name",
    "claim",
    "default_date",
    "pledge_registry",
    "pledge_registration_no",
    "valuation_amount",
    "valuation_method",
    "bank_ratio_bp",
    "asset1_kind",
    "asset1_number",
    "asset1_title",
)
_ASSET_COLUMN = re.compile(r"^asset(\d+)_(kind|number|title|registry|co_owner_consent|family_key)$")
_YES: Final = frozenset({"yes", "y", "true", "1", "是"})
_NO: Final = frozenset({"no", "n", "false", "0", "否", ""})

CODE_COLUMN: Final[Mapping[str, str]] = {
    "bad_currency": "currency",
    "default_in_future": "default_date",
    "planned_sale_in_past": "planned_sale_date",
    "valuer_required": "valuation_agency_org",
    "report_in_future": "valuation_report_date",
    "registry_mismatch": "asset_registry",
    "duplicate_asset": "asset_number",
    "ratios_not_10000": "bank_ratio_bp",
    "bank_line_missing": "bank_ratio_bp",
    "advance_above_claim": "claim",
    "reserved_cost_kind": "costs",
    "unknown_org": "row",
    "party_kind_mismatch": "row",
}


class RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class CsvRows:
    header: tuple[str, ...]
    rows: tuple[dict[str, str], ...]


def parse_csv(content: bytes) -> CsvRows:
    """The file's header and rows; the whole file is refused (``bad_csv``) if its shape is wrong."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("bad_csv", "the file is not UTF-8 text") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header_row = next(reader, None)
        if header_row is None:
            raise Invalid("bad_csv", "the file is empty")
        header = tuple(column.strip().lower() for column in header_row)
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise Invalid("bad_csv", f"missing columns: {', '.join(missing)}")
        if len(set(header)) != len(header):
            raise Invalid("bad_csv", "a column appears twice in the header")
        rows: list[dict[str, str]] = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise Invalid("too_many_rows", f"at most {MAX_ROWS} rows per file")
            row = {
                column: values[index].strip() if index < len(values) else ""
                for index, column in enumerate(header)
            }
            if len(values) > len(header):
                row["__extra__"] = "1"
            rows.append(row)
    except csv.Error as exc:
        raise Invalid("bad_csv", f"unreadable CSV: {exc}") from exc
    if not rows:
        raise Invalid("bad_csv", "the file has a header but no rows")
    return CsvRows(header=header, rows=tuple(rows))


def _required(row: Mapping[str, str], column: str) -> str:
    value = row.get(column, "").strip()
    if not value:
        raise RowError(column, "required")
    return value


def _amount(row: Mapping[str, str], column: str, *, required: bool = True) -> int | None:
    value = row.get(column, "").strip().replace(",", "").replace("_", "")
    if not value:
        if required:
            raise RowError(column, "required")
        return None
    if not re.fullmatch(r"\d{1,16}", value):
        raise RowError(column, f"not a whole non-negative number of minor units: {value!r}")
    return int(value)


def _date(row: Mapping[str, str], column: str, *, required: bool = True) -> str | None:
    value = row.get(column, "").strip()
    if not value:
        if required:
            raise RowError(column, "required")
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise RowError(column, f"not a date YYYY-MM-DD: {value!r}") from exc


def _bool(row: Mapping[str, str], column: str) -> bool:
    value = row.get(column, "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise RowError(column, f"not yes/no: {value!r}")


def _optional(row: Mapping[str, str], column: str) -> str | None:
    value = row.get(column, "").strip()
    return value or None


OrgIndex = Mapping[str, uuid.UUID]


def _org(row: Mapping[str, str], column: str, orgs: OrgIndex) -> str | None:
    value = row.get(column, "").strip()
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    if value not in orgs:
        raise RowError(column, f"no organisation named {value!r}")
    return str(orgs[value])


def _assets(row: Mapping[str, str]) -> list[dict[str, Any]]:
    numbers = sorted(
        {int(match.group(1)) for column in row if (match := _ASSET_COLUMN.match(column)) is not None}
    )
    assets: list[dict[str, Any]] = []
    for n in numbers:
        prefix = f"asset{n}_"
        if not any(row.get(prefix + part, "").strip() for part in ("kind", "number", "title")):
            continue
        asset: dict[str, Any] = {
            "kind": _required(row, prefix + "kind"),
            "number": _required(row, prefix + "number"),
            "title": _required(row, prefix + "title"),
            "co_owner_consent": _bool(row, prefix + "co_owner_consent"),
        }
        if registry := _optional(row, prefix + "registry"):
            asset["registry"] = registry
        if family := _optional(row, prefix + "family_key"):
            asset["family_key"] = family
        assets.append(asset)
    if not assets:
        raise RowError("asset1_kind", "a listing needs at least one asset")
    return assets


def _costs(row: Mapping[str, str]) -> list[dict[str, Any]]:
    costs: list[dict[str, Any]] = []
    for item in filter(None, (part.strip() for part in row.get("costs", "").split(";"))):
        kind, sep, amount = item.partition("=")
        if not sep or not kind.strip() or not re.fullmatch(r"\d{1,16}", amount.strip()):
            raise RowError("costs", f"expected kind=amount, got {item!r}")
        costs.append({"kind": kind.strip(), "amount": int(amount.strip())})
    return costs


def _licences(row: Mapping[str, str]) -> list[dict[str, Any]]:
    licences: list[dict[str, Any]] = []
    for item in filter(None, (part.strip() for part in row.get("licences", "").split(";"))):
        parts = [part.strip() for part in item.split("|")]
        if len(parts) not in (3, 4) or not all(parts[:3]):
            raise RowError("licences", f"expected asset|licensee|kind|until, got {item!r}")
        licence: dict[str, Any] = {"asset": parts[0], "licensee": parts[1], "kind": parts[2]}
        if len(parts) == 4 and parts[3]:
            licence["until"] = _date({"licences": parts[3]}, "licences")
        licences.append(licence)
    return licences


def draft_from_row(row: Mapping[str, str], bank_org_id: uuid.UUID, orgs: OrgIndex) -> dict[str, Any]:
    """The row as a ``POST /api/listings`` body; ``RowError`` names the first bad column."""
    if "__extra__" in row:
        raise RowError("row", "more values than header columns")
    parties: list[dict[str, Any]] = [
        {"role": "bank", "org_id": str(bank_org_id), "ratio_bp": _amount(row, "bank_ratio_bp")}
    ]
    advances: list[dict[str, Any]] = []
    for role in PARTY_ROLES:
        org = _org(row, f"{role}_org", orgs)
        ratio = _amount(row, f"{role}_ratio_bp", required=False)
        advance = _amount(row, f"{role}_advance", required=False)
        if org is None:
            if ratio or advance:
                raise RowError(f"{role}_org", f"{role} ratio or advance given without the organisation")
            continue
        parties.append({"role": role, "org_id": org, "ratio_bp": ratio or 0})
        if advance:
            advances.append({"role": role, "amount": advance})
    draft: dict[str, Any] = {
        "title": _required(row, "title"),
        "currency": _optional(row, "currency") or "CNY",
        "loan": {
            "loan_ref": _required(row, "loan_ref"),
            "pledgor_name": _required(row, "pledgor_name"),
            "claim": _amount(row, "claim"),
            "default_date": _date(row, "default_date"),
        },
        "pledge": {
            "registry": _required(row, "pledge_registry"),
            "registration_no": _required(row, "pledge_registration_no"),
        },
        "assets": _assets(row),
        "valuation": {
            "amount": _amount(row, "valuation_amount"),
            "method": _required(row, "valuation_method"),
            "agency_org_id": _org(row, "valuation_agency_org", orgs),
            "report_date": _date(row, "valuation_report_date", required=False),
        },
        "settlement": {"parties": parties, "advances": advances, "costs": _costs(row)},
        "disclosures": {
            "licences": _licences(row),
            "litigation": [part.strip() for part in row.get("litigation", "").split(";") if part.strip()],
            "none_known": _bool(row, "none_known"),
        },
    }
    for column in ("industry", "ipc_class"):
        if value := _optional(row, column):
            draft[column] = value
    if planned := _date(row, "planned_sale_date", required=False):
        draft["planned_sale_date"] = planned
    return draft


_PATH_COLUMN: Final[Mapping[str, str]] = {
    "$.title": "title",
    "$.currency": "currency",
    "$.loan.loan_ref": "loan_ref",
    "$.loan.pledgor_name": "pledgor_name",
    "$.loan.claim": "claim",
    "$.pledge.registry": "pledge_registry",
    "$.pledge.registration_no": "pledge_registration_no",
    "$.valuation.amount": "valuation_amount",
    "$.valuation.method": "valuation_method",
    "$.industry": "industry",
    "$.ipc_class": "ipc_class",
    "$.disclosures.licences": "licences",
    "$.disclosures.litigation": "litigation",
    "$.settlement.costs": "costs",
    "$.settlement.parties": "bank_ratio_bp",
}


def column_for_path(message: str) -> str:
    """The CSV column behind a msgspec validation message's ``$.path``."""
    match = re.search(r"at `(\$[^`]*)`", message)
    if match is None:
        return "row"
    path = match.group(1)
    asset = re.match(r"^\$\.assets\[(\d+)\]\.(\w+)", path)
    if asset is not None:
        return f"asset{int(asset.group(1)) + 1}_{asset.group(2)}"
    for prefix, column in sorted(_PATH_COLUMN.items(), key=lambda item: -len(item[0])):
        if path.startswith(prefix):
            return column
    return "row"


def validate_row(row: Mapping[str, str], bank_org_id: uuid.UUID, orgs: OrgIndex) -> ListingCreate:
    draft = draft_from_row(row, bank_org_id, orgs)
    try:
        return msgspec.convert(draft, ListingCreate)
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise RowError(column_for_path(message), message.split(" - at ", 1)[0]) from exc


@dataclass
class ImportReport:
    created: list[dict[str, Any]]
    errors: list[dict[str, Any]]


async def import_rows(
    session: AsyncSession,
    principal: Principal,
    rows: Sequence[Mapping[str, str]],
    *,
    progress: Callable[[int], Any] | None = None,
) -> ImportReport:
    """Create a draft for every valid row in ``session`` (no commit); report the invalid ones."""
    if principal.org_id is None:
        raise Forbidden("wrong_role", "a bank user must belong to a bank")
    orgs = {name: org_id for org_id, name in (await session.execute(select(Org.id, Org.name)))}
    report = ImportReport(created=[], errors=[])
    for index, row in enumerate(rows):
        row_no = index + 2
        try:
            data = validate_row(row, principal.org_id, orgs)
            listing = await create_listing(session, principal, data)
        except RowError as exc:
            report.errors.append({"row": row_no, "field": exc.field, "reason": exc.reason})
        except DomainError as exc:
            field = CODE_COLUMN.get(exc.code, "row")
            report.errors.append({"row": row_no, "field": field, "reason": f"{exc.code}: {exc.detail}"})
        else:
            report.created.append({"row": row_no, "id": str(listing.id), "title": listing.title})
        if progress is not None and (index + 1) % PROGRESS_EVERY == 0:
            await progress(index + 1)
    return report


def _job_key(job_id: uuid.UUID) -> str:
    return f"listing-import:{job_id}"


class ImportJobs:
    """Runs import jobs on this node and keeps their state in the shared store."""

    def __init__(self, store: Store, sessionmaker: async_sessionmaker[AsyncSession], *, sqlite: bool) -> None:
        self._store = store
        self._sessionmaker = sessionmaker
        self._sqlite = sqlite
        self._tasks: set[asyncio.Task[None]] = set()

    async def _save(self, job_id: uuid.UUID, state: dict[str, Any]) -> None:
        state["updated_at"] = utcnow().isoformat()
        await self._store.set(_job_key(job_id), msgspec.json.encode(state), expires_in=JOB_TTL_SECONDS)

    async def start(self, principal: Principal | None, content: bytes, filename: str) -> dict[str, Any]:
        caller = require(principal, "bank_user")
        parsed = parse_csv(content)
        job_id = uuid.uuid4()
        state: dict[str, Any] = {
            "job_id": str(job_id),
            "status": "running",
            "filename": filename,
            "processed": 0,
            "total": len(parsed.rows),
            "created": [],
            "errors": [],
            "org_id": str(caller.org_id),
            "started_by": str(caller.user_id),
            "started_at": utcnow().isoformat(),
        }
        await self._save(job_id, state)
        task = asyncio.create_task(self._run(job_id, caller, parsed.rows, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return state

    async def _run(
        self,
        job_id: uuid.UUID,
        principal: Principal,
        rows: Sequence[Mapping[str, str]],
        state: dict[str, Any],
    ) -> None:
        async def progress(processed: int) -> None:
            await self._save(job_id, {**state, "processed": processed})

        try:
            async with self._sessionmaker() as session:
                if self._sqlite:
                    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                try:
                    report = await import_rows(session, principal, rows, progress=progress)
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        except Exception as exc:
            log.exception("listing import failed", job_id=str(job_id))
            await self._save(
                job_id,
                {
                    **state,
                    "status": "failed",
                    "created": [],
                    "error": f"the import failed: {type(exc).__name__}",
                },
            )
            return
        await self._save(
            job_id,
            {
                **state,
                "status": "done",
                "processed": len(rows),
                "created": report.created,
                "errors": report.errors,
                "finished_at": utcnow().isoformat(),
            },
        )

    async def status(self, principal: Principal | None, job_id: uuid.UUID) -> dict[str, Any]:
        caller = require(principal, "bank_user", "operator")
        raw = await self._store.get(_job_key(job_id))
        if raw is None:
            raise NotFound("not_found", "no such import job (jobs are kept for a day)")
        state: dict[str, Any] = msgspec.json.decode(raw)
        if caller.role != "operator" and state.get("org_id") != str(caller.org_id):
            raise NotFound("not_found", "no such import job (jobs are kept for a day)")
        return state

    async def wait_all(self) -> None:
        """Wait for this node's running jobs (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
