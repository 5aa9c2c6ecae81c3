"""listings and the sandbox registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("bank_org_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("loan_ref", sa.String(length=100), nullable=False),
        sa.Column("pledgor_name", sa.String(length=200), nullable=False),
        sa.Column("claim", sa.BigInteger(), nullable=False),
        sa.Column("default_date", sa.Date(), nullable=False),
        sa.Column("pledge_registry", sa.String(length=40), nullable=False),
        sa.Column("pledge_registration_no", sa.String(length=100), nullable=False),
        sa.Column("valuation_amount", sa.BigInteger(), nullable=False),
        sa.Column("valuation_method", sa.String(length=20), nullable=False),
        sa.Column("valuer_org_id", sa.Uuid(), nullable=True),
        sa.Column("valuation_report_date", sa.Date(), nullable=True),
        sa.Column("settlement_terms", sa.JSON(), nullable=False),
        sa.Column("disclosures", sa.JSON(), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=False),
        sa.Column("ipc_class", sa.String(length=20), nullable=True),
        sa.Column("planned_sale_date", sa.Date(), nullable=True),
        sa.Column("approved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("announcement_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checks_run", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'in_disposal', 'sold', 'failed', 'withdrawn', 'settled')",
            name=op.f("ck_listings_status"),
        ),
        sa.CheckConstraint(
            "valuation_method IN ('internal', 'external')", name=op.f("ck_listings_valuation_method")
        ),
        sa.CheckConstraint("claim >= 0", name=op.f("ck_listings_claim_not_negative")),
        sa.CheckConstraint("valuation_amount >= 0", name=op.f("ck_listings_valuation_not_negative")),
        sa.ForeignKeyConstraint(["bank_org_id"], ["orgs.id"], name=op.f("fk_listings_bank_org_id_orgs")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_listings_created_by_users")),
        sa.ForeignKeyConstraint(["valuer_org_id"], ["orgs.id"], name=op.f("fk_listings_valuer_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
    )
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listings_bank_org_id"), ["bank_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_listings_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_listings_industry"), ["industry"], unique=False)
        batch_op.create_index(batch_op.f("ix_listings_status"), ["status"], unique=False)

    op.create_table(
        "manual_evidence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registry", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("entered_by", sa.Uuid(), nullable=False),
        sa.Column("entered_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("approved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> entered_by",
            name=op.f("ck_manual_evidence_second_operator"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_manual_evidence_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["users.id"], name=op.f("fk_manual_evidence_entered_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_evidence")),
    )
    with op.batch_alter_table("manual_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manual_evidence_family"), ["family"], unique=False)
        batch_op.create_index(batch_op.f("ix_manual_evidence_number"), ["number"], unique=False)

    op.create_table(
        "sandbox_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registry", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_sandbox_records_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_records")),
        sa.UniqueConstraint("registry", "number", name=op.f("uq_sandbox_records_registry_number")),
    )
    with op.batch_alter_table("sandbox_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandbox_records_family"), ["family"], unique=False)

    op.create_table(
        "filing_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("transferee", sa.String(length=200), nullable=True),
        sa.Column("document_html", sa.Text(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("prepared_by", sa.Uuid(), nullable=True),
        sa.Column("prepared_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.Uuid(), nullable=True),
        sa.Column("confirmed_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('pledge_release', 'transfer')", name=op.f("ck_filing_tasks_kind")),
        sa.CheckConstraint(
            "status IN ('prepared', 'filed', 'confirmed', 'rejected')", name=op.f("ck_filing_tasks_status")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["users.id"], name=op.f("fk_filing_tasks_confirmed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_filing_tasks_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prepared_by"], ["users.id"], name=op.f("fk_filing_tasks_prepared_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filing_tasks")),
    )
    with op.batch_alter_table("filing_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filing_tasks_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "listing_assets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("registry", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("co_owner_consent", sa.Boolean(), nullable=False),
        sa.Column("family_key", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "kind IN ('invention_patent', 'utility_model', 'design', 'trademark', 'copyright', 'software_copyright', 'ic_layout', 'plant_variety', 'geographical_indication', 'collective_mark', 'certification_mark', 'data_right', 'licence_revenue_right')",
            name=op.f("ck_listing_assets_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_assets_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_assets")),
        sa.UniqueConstraint("listing_id", "position", name=op.f("uq_listing_assets_listing_id_position")),
    )
    with op.batch_alter_table("listing_assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_assets_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_listing_assets_number"), ["number"], unique=False)

    op.create_table(
        "listing_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("run_no", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asset", sa.String(length=100), nullable=True),
        sa.Column("check", sa.String(length=40), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("raw_evidence", sa.Text(), nullable=True),
        sa.Column("cost", sa.BigInteger(), nullable=True),
        sa.Column("checked_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("severity IN ('hard', 'warning')", name=op.f("ck_listing_checks_severity")),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_checks_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_checks")),
    )
    with op.batch_alter_table("listing_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_checks_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "listing_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_path", sa.String(length=500), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_documents_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_listing_documents_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_documents")),
    )
    with op.batch_alter_table("listing_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_documents_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "listing_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_listing_transitions_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_transitions_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_transitions")),
    )
    with op.batch_alter_table("listing_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_transitions_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "nda_acceptances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_nda_acceptances_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_nda_acceptances_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nda_acceptances")),
        sa.UniqueConstraint("listing_id", "user_id", name=op.f("uq_nda_acceptances_listing_id_user_id")),
    )
    with op.batch_alter_table("nda_acceptances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nda_acceptances_listing_id"), ["listing_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nda_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nda_acceptances_listing_id"))

    op.drop_table("nda_acceptances")
    with op.batch_alter_table("listing_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_transitions_listing_id"))

    op.drop_table("listing_transitions")
    with op.batch_alter_table("listing_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_documents_listing_id"))

    op.drop_table("listing_documents")
    with op.batch_alter_table("listing_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_checks_listing_id"))

    op.drop_table("listing_checks")
    with op.batch_alter_table("listing_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_assets_number"))
        batch_op.drop_index(batch_op.f("ix_listing_assets_listing_id"))

    op.drop_table("listing_assets")
    with op.batch_alter_table("filing_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filing_tasks_listing_id"))

    op.drop_table("filing_tasks")
    with op.batch_alter_table("sandbox_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_records_family"))

    op.drop_table("sandbox_records")
    with op.batch_alter_table("manual_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manual_evidence_number"))
        batch_op.drop_index(batch_op.f("ix_manual_evidence_family"))

    op.drop_table("manual_evidence")
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listings_status"))
        batch_op.drop_index(batch_op.f("ix_listings_industry"))
        batch_op.drop_index(batch_op.f("ix_listings_created_at"))
        batch_op.drop_index(batch_op.f("ix_listings_bank_org_id"))

    op.drop_table("listings")
