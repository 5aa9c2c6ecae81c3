"""Settlement (清算): the pure calculator from a case to a reconciled statement.

Pure code only: no I/O, no database, no clock. See :mod:`marketplace.settlement.calculator`.
"""

from marketplace.settlement.calculator import (
    BANK,
    MAX_AMOUNT,
    ROLES,
    Advance,
    Case,
    Cost,
    Party,
    SettlementInvalid,
    Statement,
    StatementLine,
    compute_statement,
    front_loaded_advances,
    validate_case,
)
from marketplace.settlement.premium import PremiumSchedule, buyer_premium, court_tiered_premium

__all__ = [
    "BANK",
    "MAX_AMOUNT",
    "ROLES",
    "Advance",
    "Case",
    "Cost",
    "Party",
    "PremiumSchedule",
    "SettlementInvalid",
    "Statement",
    "StatementLine",
    "buyer_premium",
    "compute_statement",
    "court_tiered_premium",
    "front_loaded_advances",
    "validate_case",
]
