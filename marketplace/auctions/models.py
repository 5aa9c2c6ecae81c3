"""Auction rounds, registrations, pre-emption holders, bids, the hash-chained event log, deposits.

Invariants:
- ``auction_events`` holds, per auction, seq 1..n without gaps; each row stores the previous
  row's hash (``prev_hash``) and its own (``hash``), so any edit breaks the chain;
- ``auctions.seq`` and ``auctions.last_hash`` are the head of that chain; they change only in the
  transaction that appends events, under the auction row's lock;
- a bid row exists only for an accepted bid and shares its ``seq`` with its ``bid`` event;
- a bidder code is unique within an auction and says nothing about who bids;
- ``preemption`` holds the operator-confirmed ``[user_id, rank]`` pairs, ``barred`` the users who
  defaulted in an earlier round of the same listing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, UTCDateTime, new_id, utcnow


class Auction(Base):
    __tablename__ = "auctions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"), index=True)
    round_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), index=True)
    rules_profile: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    starting_price: Mapped[int] = mapped_column(BigInteger)
    increment: Mapped[int] = mapped_column(BigInteger)
    deposit: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    extension_seconds: Mapped[int] = mapped_column(Integer)
    current_price: Mapped[int | None] = mapped_column(BigInteger)
    leader_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    leader_code: Mapped[str | None] = mapped_column(String(16))
    leader_rank: Mapped[int | None] = mapped_column(Integer)
    leader_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bids_count: Mapped[int] = mapped_column(Integer, default=0)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    preemption: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    barred: Mapped[list[str]] = mapped_column(JSON, default=list)
    stalking_horse_offer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    winner_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    hammer_price: Mapped[int | None] = mapped_column(BigInteger)
    balance_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation_no: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("auction_id", "user_id"),
        UniqueConstraint("auction_id", "bidder_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    bidder_code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Deposit(Base):
    __tablename__ = "deposits"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"), unique=True)
    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), index=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    provider_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    instructions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Bid(Base):
    __tablename__ = "bids"
    __table_args__ = (
        UniqueConstraint("auction_id", "seq"),
        UniqueConstraint("auction_id", "user_id", "idempotency_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    bidder_code: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extensions: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))


class AuctionEvent(Base):
    __tablename__ = "auction_events"
    __table_args__ = (UniqueConstraint("auction_id", "seq"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class PaymentEvent(Base):
    """A payment provider's webhook event, kept so that each is applied once."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TransferRecord(Base):
    """The offline gateway's book: one hold or payout per transfer reference."""

    __tablename__ = "transfer_records"

    provider_ref: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
