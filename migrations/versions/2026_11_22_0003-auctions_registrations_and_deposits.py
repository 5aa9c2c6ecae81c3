"""auctions, registrations and deposits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_events",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("received_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_payment_events")),
    )
    op.create_table(
        "transfer_records",
        sa.Column("provider_ref", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider_ref", name=op.f("pk_transfer_records")),
    )
    op.create_table(
        "auctions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("round_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("rules_profile", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starting_price", sa.BigInteger(), nullable=False),
        sa.Column("increment", sa.BigInteger(), nullable=False),
        sa.Column("deposit", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("extension_seconds", sa.Integer(), nullable=False),
        sa.Column("current_price", sa.BigInteger(), nullable=True),
        sa.Column("leader_user_id", sa.Uuid(), nullable=True),
        sa.Column("leader_code", sa.String(length=16), nullable=True),
        sa.Column("leader_rank", sa.Integer(), nullable=True),
        sa.Column("leader_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("bids_count", sa.Integer(), nullable=False),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("preemption", sa.JSON(), nullable=False),
        sa.Column("barred", sa.JSON(), nullable=False),
        sa.Column("stalking_horse_offer_id", sa.Uuid(), nullable=True),
        sa.Column("closed_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("winner_user_id", sa.Uuid(), nullable=True),
        sa.Column("hammer_price", sa.BigInteger(), nullable=True),
        sa.Column("balance_due_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("balance_paid_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmation_no", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_auctions_created_by_users")),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name=op.f("fk_auctions_listing_id_listings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auctions")),
    )
    op.create_index(op.f("ix_auctions_ends_at"), "auctions", ["ends_at"], unique=False)
    op.create_index(op.f("ix_auctions_listing_id"), "auctions", ["listing_id"], unique=False)
    op.create_index(op.f("ix_auctions_status"), "auctions", ["status"], unique=False)
    op.create_table(
        "auction_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("auction_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name=op.f("fk_auction_events_auction_id_auctions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auction_events")),
        sa.UniqueConstraint("auction_id", "seq", name=op.f("uq_auction_events_auction_id_seq")),
    )
    op.create_table(
        "bids",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("auction_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bidder_code", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["auction_id"], ["auctions.id"], name=op.f("fk_bids_auction_id_auctions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bids_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bids")),
        sa.UniqueConstraint("auction_id", "seq", name=op.f("uq_bids_auction_id_seq")),
        sa.UniqueConstraint(
            "auction_id",
            "user_id",
            "idempotency_key",
            name=op.f("uq_bids_auction_id_user_id_idempotency_key"),
        ),
    )
    op.create_index(op.f("ix_bids_auction_id"), "bids", ["auction_id"], unique=False)
    op.create_table(
        "registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("auction_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bidder_code", sa.String(length=16), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name=op.f("fk_registrations_auction_id_auctions")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_registrations_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint(
            "auction_id", "bidder_code", name=op.f("uq_registrations_auction_id_bidder_code")
        ),
        sa.UniqueConstraint("auction_id", "user_id", name=op.f("uq_registrations_auction_id_user_id")),
    )
    op.create_index(op.f("ix_registrations_auction_id"), "registrations", ["auction_id"], unique=False)
    op.create_index(op.f("ix_registrations_user_id"), "registrations", ["user_id"], unique=False)
    op.create_table(
        "deposits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("auction_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("provider_ref", sa.String(length=100), nullable=True),
        sa.Column("instructions", sa.JSON(), nullable=False),
        sa.Column("expires_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.Uuid(), nullable=True),
        sa.Column("held_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name=op.f("fk_deposits_auction_id_auctions")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"], ["registrations.id"], name=op.f("fk_deposits_registration_id_registrations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_deposits_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposits")),
        sa.UniqueConstraint("reference", name=op.f("uq_deposits_reference")),
        sa.UniqueConstraint("registration_id", name=op.f("uq_deposits_registration_id")),
    )
    op.create_index(op.f("ix_deposits_auction_id"), "deposits", ["auction_id"], unique=False)
    op.create_index(op.f("ix_deposits_provider_ref"), "deposits", ["provider_ref"], unique=False)
    op.create_index(op.f("ix_deposits_status"), "deposits", ["status"], unique=False)
    op.create_index(op.f("ix_deposits_user_id"), "deposits", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deposits_user_id"), table_name="deposits")
    op.drop_index(op.f("ix_deposits_status"), table_name="deposits")
    op.drop_index(op.f("ix_deposits_provider_ref"), table_name="deposits")
    op.drop_index(op.f("ix_deposits_auction_id"), table_name="deposits")
    op.drop_table("deposits")
    op.drop_index(op.f("ix_registrations_user_id"), table_name="registrations")
    op.drop_index(op.f("ix_registrations_auction_id"), table_name="registrations")
    op.drop_table("registrations")
    op.drop_index(op.f("ix_bids_auction_id"), table_name="bids")
    op.drop_table("bids")
    op.drop_table("auction_events")
    op.drop_index(op.f("ix_auctions_status"), table_name="auctions")
    op.drop_index(op.f("ix_auctions_listing_id"), table_name="auctions")
    op.drop_index(op.f("ix_auctions_ends_at"), table_name="auctions")
    op.drop_table("auctions")
    op.drop_table("transfer_records")
    op.drop_table("payment_events")
