"""Request and response bodies of the auction API (api.md → Auctions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Amount = Annotated[int, msgspec.Meta(ge=1, le=10**15)]


class PreemptionIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: uuid.UUID
    rank: Annotated[int, msgspec.Meta(ge=1, le=100)]


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["auction", "sale"]
    starting_price: Amount
    increment: Amount
    deposit: Amount
    starts_at: datetime
    ends_at: datetime
    extension_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None
    preemption: list[PreemptionIn] | None = None
    stalking_horse_offer_id: uuid.UUID | None = None


class RegistrationIn(msgspec.Struct, forbid_unknown_fields=True):
    payment: Literal["offline", "stripe"] = "offline"


class BidIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(le=10**15)]


class DepositOut(msgspec.Struct):
    id: uuid.UUID
    status: str
    amount: int
    currency: str
    method: str
    reference: str
    instructions: dict[str, Any]


class RegistrationOut(msgspec.Struct):
    registration_id: uuid.UUID
    auction_id: uuid.UUID
    bidder_code: str
    deposit: DepositOut


class BidOut(msgspec.Struct):
    seq: int
    amount: int
    leader_code: str
    ends_at: datetime
    extensions: int


class BidRow(msgspec.Struct):
    seq: int
    amount: int
    bidder_code: str
    at: datetime


class AuctionOut(msgspec.Struct):
    id: uuid.UUID
    listing_id: uuid.UUID
    round_no: int
    kind: str
    status: str
    currency: str
    starting_price: int
    increment: int
    deposit: int
    current_price: int | None
    leader_code: str | None
    bids_count: int
    starts_at: datetime
    ends_at: datetime
    extension_seconds: int
    extensions: int
    seq: int
    server_time: datetime
    rules_profile: str
    next_valid_amounts: list[int]
    closed_at: datetime | None = None
    hammer_price: int | None = None
    balance_due_at: datetime | None = None


class LogEntry(msgspec.Struct):
    seq: int
    type: str
    payload: dict[str, Any]
    at: datetime
    prev_hash: str
    hash: str


class LogOut(msgspec.Struct):
    auction_id: uuid.UUID
    entries: list[LogEntry]
    verified: bool
    broken_at_seq: int | None
    reason: str | None
    head_hash: str


class ConfirmationOut(msgspec.Struct):
    auction_id: uuid.UUID
    listing_id: uuid.UUID
    confirmation_no: str
    hammer_price: int
    currency: str
    deposit_applied: int
    balance_due: int
    balance_due_at: datetime
    balance_paid_at: datetime | None
    winner_bidder_code: str
    winner_real_name: str
    winner_email: str
    closed_at: datetime
