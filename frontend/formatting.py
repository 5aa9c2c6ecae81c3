"""How the pages show and read money, ratios and times.

Invariants:
- amounts are integers in minor units (fen for CNY) and are formatted by integer division and
  modulo only: ``format_money(123456)`` is ``¥1,234.56``; no float ever touches an amount;
- form input in yuan (``"1,234.5"``, ``"¥ 1234.50"``, full-width digits from a Chinese input
  method) parses to fen exactly or is refused;
  percentages (``"33.33"``) parse to basis points exactly or are refused;
- times are shown in China Standard Time (UTC+8, no daylight saving), labelled as such.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

CHINA_TIME: Final = timezone(timedelta(hours=8), "UTC+8")
SYMBOLS: Final = {"CNY": "¥", "USD": "US$", "EUR": "€", "HKD": "HK$", "JPY": "JP¥", "GBP": "£"}
ZERO_DECIMAL: Final = frozenset({"JPY"})
MAX_AMOUNT: Final = 10**15

_AMOUNT = re.compile(r"^([0-9]{1,16})(?:\.([0-9]{1,2}))?$")
_PERCENT = re.compile(r"^([0-9]{1,3})(?:\.([0-9]{1,2}))?$")
_NOISE = re.compile(r"[\s,，¥￥]|CNY|RMB|元")


class FormValueError(ValueError):
    """A form value that cannot be read; ``code`` is stable, like the API's error codes."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def format_money(amount: int | None, currency: str = "CNY") -> str:
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(currency, currency + " ")
    if currency in ZERO_DECIMAL:
        return f"{sign}{symbol}{abs(amount):,}"
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{symbol}{units:,}.{cents:02d}"


def format_plain_amount(amount: int | None) -> str:
    """An amount in yuan for a form field: ``123456`` → ``"1234.56"`` (no symbol, no separators)."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d}"


def parse_amount(text: str) -> int:
    """Yuan as typed into a form → fen; ``FormValueError('bad_amount', …)`` otherwise."""
    cleaned = _NOISE.sub("", unicodedata.normalize("NFKC", text).strip())
    match = _AMOUNT.match(cleaned)
    if match is None:
        raise FormValueError("bad_amount", f"{text!r} is not an amount in yuan with at most two decimals")
    units, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    amount = int(units) * 100 + int(cents)
    if amount > MAX_AMOUNT:
        raise FormValueError("bad_amount", f"{text!r} is too large")
    return amount


def format_bp(bp: int | None) -> str:
    """Basis points as a percentage: ``3333`` → ``33.33 %``, ``2000`` → ``20 %``."""
    if bp is None:
        return "—"
    whole, part = divmod(abs(bp), 100)
    sign = "-" if bp < 0 else ""
    return f"{sign}{whole}.{part:02d} %" if part else f"{sign}{whole} %"


def parse_percent(text: str) -> int:
    """A percentage as typed (``"33.33"``, ``"20 %"``) → basis points."""
    cleaned = unicodedata.normalize("NFKC", text).strip().rstrip("%").strip()
    match = _PERCENT.match(cleaned)
    if match is None:
        raise FormValueError("bad_ratio", f"{text!r} is not a percentage with at most two decimals")
    bp = int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))
    if bp > 10_000:
        raise FormValueError("bad_ratio", f"{text!r} is above 100 %")
    return bp


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(CHINA_TIME).date()
    return value.isoformat()


def iso_utc(value: datetime | None) -> str:
    """RFC 3339 UTC for machine use (``data-`` attributes read by the scripts)."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_local_datetime(text: str) -> datetime:
    """A ``datetime-local`` form value, read as China Standard Time → an aware datetime."""
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise FormValueError("bad_datetime", f"{text!r} is not a date and time") from exc
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=CHINA_TIME)


def local_input_value(value: datetime) -> str:
    """An aware datetime as a ``datetime-local`` value in China Standard Time."""
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%dT%H:%M:%S")


def format_duration(value: timedelta) -> str:
    """``timedelta(hours=24)`` → ``"24 h"``; the largest unit that divides it exactly."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
