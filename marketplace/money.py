"""Money in integer minor units, and the two places where rounding happens.

Invariants this module keeps:

- An amount is an ``int`` in the currency's minor unit (fen for CNY); ``float``, ``Decimal`` and
  ``bool`` are refused with ``TypeError``. A currency is an upper-case ISO 4217 code from
  :data:`CURRENCIES`.
- Adding or subtracting amounts in different currencies raises :class:`CurrencyMismatch`.
- :func:`allocate` splits a total into integer parts that sum to the total exactly (largest
  remainder; ties go to the earliest index); each part is within 1 of its exact proportional share.
- :func:`apply_bp` takes ``bp`` basis points of an amount and rounds half up, exactly once, in
  integer arithmetic. Commission and the flat buyer premium use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

BP_WHOLE = 10_000

CURRENCIES: frozenset[str] = frozenset({"CNY", "USD", "EUR", "HKD", "JPY", "GBP"})


class CurrencyMismatch(Exception):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"

    def __init__(self, left: str, right: str) -> None:
        self.detail = f"cannot combine {left} with {right}"
        super().__init__(self.detail)


class UnknownCurrency(ValueError):
    """A currency code that is not an accepted upper-case ISO 4217 code."""

    code = "bad_currency"

    def __init__(self, currency: object) -> None:
        self.detail = f"currency {currency!r} is not one of {', '.join(sorted(CURRENCIES))}"
        super().__init__(self.detail)


def validate_currency(code: object) -> str:
    """Return ``code`` if it is an accepted currency, else raise :class:`UnknownCurrency`."""
    if not isinstance(code, str) or code not in CURRENCIES:
        raise UnknownCurrency(code)
    return code


def _require_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int in minor units, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An integer amount in minor units of one currency."""

    amount: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        _require_int(self.amount, "amount")
        validate_currency(self.currency)

    @classmethod
    def zero(cls, currency: str = "CNY") -> Self:
        return cls(0, currency)

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split a non-negative amount by ``weights``; see :func:`allocate`."""
        return [Money(part, self.currency) for part in allocate(self.amount, weights)]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` proportionally to ``weights`` with the largest-remainder method.

    Each part starts as ``floor(total * w / W)``; the units left over go one each to the parts with
    the largest remainders, ties to the earliest index. Parts sum to ``total`` exactly, and each
    part is within 1 of ``total * w / W`` (a zero weight always gets 0).
    """
    _require_int(total, "total")
    if total < 0:
        raise ValueError("total must be non-negative")
    for weight in weights:
        _require_int(weight, "weight")
        if weight < 0:
            raise ValueError("weights must be non-negative")
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("weights must sum to more than 0")
    parts = [total * weight // weight_sum for weight in weights]
    remainders = [total * weight % weight_sum for weight in weights]
    left_over = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[:left_over]:
        parts[index] += 1
    return parts


def apply_bp(amount: int, bp: int) -> int:
    """``amount × bp / 10 000`` rounded half up (…,5 fen rounds up), for non-negative inputs."""
    _require_int(amount, "amount")
    _require_int(bp, "bp")
    if amount < 0 or bp < 0:
        raise ValueError("amount and bp must be non-negative")
    return (amount * bp + BP_WHOLE // 2) // BP_WHOLE
