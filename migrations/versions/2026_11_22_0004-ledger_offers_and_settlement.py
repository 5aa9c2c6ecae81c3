"""ledger, offers and settlement

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

On PostgreSQL the ledger is also guarded by the database: a DEFERRABLE INITIALLY DEFERRED
constraint trigger checks at commit that every transaction's entries sum to zero per currency
and that every transaction has at least two entries, and ledger rows cannot be updated or
deleted (append-only). SQLite relies on the one posting function's check.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_UPGRADE = (
    """
    CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        off record;
    BEGIN
        SELECT currency, SUM(amount) AS total INTO off
        FROM ledger_entries
        WHERE transaction_id = NEW.transaction_id
        GROUP BY currency
        HAVING SUM(amount) <> 0
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger transaction % does not balance in % (off by %)',
                NEW.transaction_id, off.currency, off.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced()
    """,
    """
    CREATE FUNCTION ledger_transaction_has_legs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT count(*) FROM ledger_entries WHERE transaction_id = NEW.id) < 2 THEN
            RAISE EXCEPTION 'ledger transaction % has fewer than two entries', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_transactions_have_legs
    AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_has_legs()
    """,
    """
    CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only (% on % refused); post a reversal', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    """
    CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
    """,
    """
    CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
    """,
)

POSTGRES_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS ledger_transactions_append_only ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    "DROP TRIGGER IF EXISTS ledger_transactions_have_legs ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_append_only()",
    "DROP FUNCTION IF EXISTS ledger_transaction_has_legs()",
    "DROP FUNCTION IF EXISTS ledger_transaction_balanced()",
)


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWNGRADE:
            op.execute(statement)
    _drop_tables()


def _create_tables() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("posted_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("ref", name=op.f("uq_ledger_transactions_ref")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_transactions_posted_at"), ["posted_at"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_entries_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("offeror_user_id", sa.Uuid(), nullable=False),
        sa.Column("offeror_org_id", sa.Uuid(), nullable=True),
        sa.Column("offeror_name", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("valid_until", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("counter_amount", sa.BigInteger(), nullable=True),
        sa.Column("counter_terms", sa.JSON(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("approved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("contract_no", sa.String(length=40), nullable=True),
        sa.Column("paid_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('acquisition', 'license', 'license_back', 'equity')", name=op.f("ck_offers_kind")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'countered', 'accepted', 'rejected', 'approved')",
            name=op.f("ck_offers_status"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_offers_amount_not_negative")),
        sa.ForeignKeyConstraint(["approved_by"], ["users.id"], name=op.f("fk_offers_approved_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_offers_decided_by_users")),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name=op.f("fk_offers_listing_id_listings")),
        sa.ForeignKeyConstraint(["offeror_org_id"], ["orgs.id"], name=op.f("fk_offers_offeror_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["offeror_user_id"], ["users.id"], name=op.f("fk_offers_offeror_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("contract_no", name=op.f("uq_offers_contract_no")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_offeror_user_id"), ["offeror_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_status"), ["status"], unique=False)

    op.create_table(
        "royalty_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("settlement_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_royalty_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name=op.f("fk_royalty_payments_listing_id_listings")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_royalty_payments_offer_id_offers")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_royalty_payments_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_royalty_payments")),
        sa.UniqueConstraint("offer_id", "period", name=op.f("uq_royalty_payments_offer_id_period")),
    )
    with op.batch_alter_table("royalty_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_royalty_payments_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_royalty_payments_offer_id"), ["offer_id"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=12), nullable=False),
        sa.Column("auction_id", sa.Uuid(), nullable=True),
        sa.Column("offer_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("income", sa.BigInteger(), nullable=False),
        sa.Column("case", sa.JSON(), nullable=False),
        sa.Column("statement", sa.JSON(), nullable=False),
        sa.Column("distribution", sa.JSON(), nullable=False),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("settled_by", sa.Uuid(), nullable=True),
        sa.Column("settled_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('disposal', 'royalty')", name=op.f("ck_settlements_kind")),
        sa.CheckConstraint(
            "route IN ('auction', 'acquisition', 'equity', 'royalty')", name=op.f("ck_settlements_route")
        ),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name=op.f("fk_settlements_auction_id_auctions")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_settlements_ledger_transaction_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name=op.f("fk_settlements_listing_id_listings")
        ),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_settlements_offer_id_offers")),
        sa.ForeignKeyConstraint(["settled_by"], ["users.id"], name=op.f("fk_settlements_settled_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint(
            "listing_id", "kind", "sequence", name=op.f("uq_settlements_listing_id_kind_sequence")
        ),
        sa.UniqueConstraint("listing_id", "position", name=op.f("uq_settlements_listing_id_position")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "settlement_payables",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("settlement_id", sa.Uuid(), nullable=False),
        sa.Column("debtor_role", sa.String(length=20), nullable=False),
        sa.Column("debtor_org_id", sa.Uuid(), nullable=True),
        sa.Column("creditor_role", sa.String(length=20), nullable=False),
        sa.Column("creditor_org_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_settlement_payables_amount_positive")),
        sa.ForeignKeyConstraint(
            ["creditor_org_id"], ["orgs.id"], name=op.f("fk_settlement_payables_creditor_org_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["debtor_org_id"], ["orgs.id"], name=op.f("fk_settlement_payables_debtor_org_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_settlement_payables_settlement_id_settlements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_payables")),
        sa.UniqueConstraint(
            "settlement_id",
            "debtor_role",
            "creditor_role",
            name=op.f("uq_settlement_payables_settlement_id_debtor_role_creditor_role"),
        ),
    )
    with op.batch_alter_table("settlement_payables", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_settlement_payables_settlement_id"), ["settlement_id"], unique=False
        )

    op.create_table(
        "settlement_payouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("settlement_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("payee_ref", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("transfer_group", sa.String(length=100), nullable=False),
        sa.Column("provider_ref", sa.String(length=100), nullable=True),
        sa.Column("provider_status", sa.String(length=20), nullable=True),
        sa.Column("instructions", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("sent_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('queued', 'sent', 'failed', 'in_kind')", name=op.f("ck_settlement_payouts_state")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_settlement_payouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_settlement_payouts_ledger_transaction_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_settlement_payouts_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_settlement_payouts_settlement_id_settlements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_payouts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_settlement_payouts_idempotency_key")),
        sa.UniqueConstraint("settlement_id", "role", name=op.f("uq_settlement_payouts_settlement_id_role")),
    )
    with op.batch_alter_table("settlement_payouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_settlement_payouts_settlement_id"), ["settlement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_settlement_payouts_state"), ["state"], unique=False)


def _drop_tables() -> None:
    with op.batch_alter_table("settlement_payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_payouts_state"))
        batch_op.drop_index(batch_op.f("ix_settlement_payouts_settlement_id"))

    op.drop_table("settlement_payouts")
    with op.batch_alter_table("settlement_payables", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_payables_settlement_id"))

    op.drop_table("settlement_payables")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_listing_id"))

    op.drop_table("settlements")
    with op.batch_alter_table("royalty_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_royalty_payments_offer_id"))
        batch_op.drop_index(batch_op.f("ix_royalty_payments_listing_id"))

    op.drop_table("royalty_payments")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_status"))
        batch_op.drop_index(batch_op.f("ix_offers_offeror_user_id"))
        batch_op.drop_index(batch_op.f("ix_offers_listing_id"))

    op.drop_table("offers")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_account_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_posted_at"))

    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
