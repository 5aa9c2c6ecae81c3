"""Errors the auction engine raises when it refuses a bid, a schedule or a command.

Invariants:
- every error carries a stable string ``code`` (a key of :data:`CODES`) and a human ``detail``;
  never an HTTP status (the service maps codes to statuses in one table);
- a refused command changes nothing: the engine raises before it builds any new state.

The three families tell the caller who was refused: a bidder (:class:`BidRejected`), an operator
scheduling a round (:class:`ScheduleRejected`), or a lifecycle command such as a close that is not
due yet (:class:`CommandRejected`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

BID_CODES: Mapping[str, str] = MappingProxyType(
    {
        "auction_not_open": "the auction has not started yet",
        "auction_closed": "the auction has ended (its end has passed, or it is sold, failed or defaulted)",
        "not_allowed_to_bid": "the listing bank, the pledgor, operator staff or a barred defaulter",
        "deposit_required": "the bidder's deposit is not held",
        "bad_amount": "the amount is not a positive integer of minor units",
        "already_leading": "the current leader may not outbid itself",
        "bid_too_low": "below the starting price, or below the current price plus one increment "
        "(a better-ranked pre-emption holder may match the current price)",
        "bad_increment": "not the starting price plus a whole number of increments",
        "fixed_price_only": "the first bid in a fixed-price sale must equal the sale price",
    }
)

SCHEDULE_CODES: Mapping[str, str] = MappingProxyType(
    {
        "price_below_floor": "starting price under 70 % of the valuation (first round), cut more than "
        "20 % from the previous round, or under a stalking-horse offer",
        "bad_deposit": "deposit outside 5 %–20 % of the starting price (a sale: not the full price)",
        "too_short": "the round lasts less than the profile's minimum (a sale: its sale duration)",
        "bad_increment": "the increment is not a positive integer",
        "bad_window": "ends before it starts, or starts before now",
        "bad_extension": "the soft-close window is shorter than the profile allows",
        "announcement_too_short": "starts before the announcement period has run",
        "relist_too_late": "a later round starts more than the relist window after the previous close",
        "sale_not_allowed": "a fixed-price sale before two failed auctions",
        "sale_required": "after two failed auctions (or a defaulted sale) the next round is a sale",
        "bad_sale_price": "a sale's price differs from the last failed auction's (or defaulted sale's)",
        "bad_stalking_horse": "a stalking-horse offer that is not a positive amount, or on a sale",
        "round_in_progress": "the previous round has not finished",
        "already_sold": "the lot was sold and the sale was not defaulted",
        "no_more_rounds": "a fixed-price sale failed: the lot leaves the auction route",
        "bad_preemption": "a pre-emption rank below 1, or a holder listed twice",
    }
)

COMMAND_CODES: Mapping[str, str] = MappingProxyType(
    {
        "auction_not_open": "opening before the start time",
        "already_open": "opening an auction that is already open",
        "already_closed": "opening or closing an auction that has ended",
        "not_due": "closing before the end time",
        "not_sold": "a default on an auction that was not sold",
        "already_defaulted": "a default on an auction already defaulted",
    }
)

CODES: Mapping[str, str] = MappingProxyType({**COMMAND_CODES, **SCHEDULE_CODES, **BID_CODES})


class AuctionError(Exception):
    """A refusal with a stable ``code`` and a human ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class BidRejected(AuctionError):
    """The bid is refused; the auction is unchanged."""


class ScheduleRejected(AuctionError):
    """The planned round breaks a scheduling rule."""


class CommandRejected(AuctionError):
    """A lifecycle command (open, close, default) is not legal in the auction's state."""
