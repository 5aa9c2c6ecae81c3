"""The double-entry ledger: accounts, balanced transactions, reversals, verification.

:func:`post` is the one way to record money; see :mod:`marketplace.ledger.service`.
"""

from marketplace.ledger.service import (
    AlreadyPosted,
    BadAccount,
    LedgerError,
    LedgerUnbalanced,
    Leg,
    balances,
    post,
    reverse,
    trial_balance,
)
from marketplace.ledger.verify import LedgerReport, verify

__all__ = [
    "AlreadyPosted",
    "BadAccount",
    "LedgerError",
    "LedgerReport",
    "LedgerUnbalanced",
    "Leg",
    "balances",
    "post",
    "reverse",
    "trial_balance",
    "verify",
]
