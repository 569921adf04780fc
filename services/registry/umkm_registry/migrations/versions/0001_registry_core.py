"""Registry core: UMKM partitioned by province, NIB claims, scale history, PII access log,
outbox/inbox, OAuth clients and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from umkm_shared.auth.clients import create_auth_tables, drop_auth_tables
from umkm_shared.idempotency import create_idempotency_table, drop_idempotency_table
from umkm_shared.messaging.tables import create_messaging_tables, drop_messaging_tables
from umkm_shared.reference import wilayah

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE umkm (
            province_code varchar(2) NOT NULL,
            id uuid NOT NULL,
            regency_code varchar(5) NOT NULL,
            district_code varchar(8) NOT NULL,
            village_code varchar(13) NOT NULL,
            business_name text NOT NULL,
            business_name_search text NOT NULL,
            owner_name text NOT NULL,
            owner_nik_encrypted bytea NOT NULL,
            owner_nik_hash varchar(64) NOT NULL,
            owner_nik_masked varchar(16) NOT NULL,
            nib varchar(13),
            npwp varchar(16),
            kbli_version varchar(4) NOT NULL,
            kbli_code varchar(5) NOT NULL,
            kbli_others jsonb NOT NULL DEFAULT '[]',
            address text,
            latitude double precision,
            longitude double precision,
            location_approximate boolean NOT NULL DEFAULT false,
            capital_idr bigint CHECK (capital_idr >= 0),
            annual_sales_idr bigint CHECK (annual_sales_idr >= 0),
            scale varchar(10) NOT NULL,
            workforce integer CHECK (workforce >= 0),
            founded_on date,
            products jsonb NOT NULL DEFAULT '[]',
            certifications jsonb NOT NULL DEFAULT '[]',
            status varchar(10) NOT NULL DEFAULT 'active',
            version integer NOT NULL DEFAULT 1,
            created_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deactivated_at timestamptz,
            deactivation_reason text,
            CONSTRAINT pk_umkm PRIMARY KEY (province_code, id),
            CONSTRAINT ck_umkm_status CHECK (status IN ('active', 'inactive', 'merged')),
            CONSTRAINT ck_umkm_scale CHECK (scale IN ('mikro', 'kecil', 'menengah', 'besar')),
            CONSTRAINT ck_umkm_province CHECK (province_code = left(village_code, 2))
        ) PARTITION BY LIST (province_code)
        """
    )
    # One partition per province of the Kemendagri 2025 table, and a default for safety.
    for province in wilayah().all(1):
        op.execute(
            f"CREATE TABLE umkm_p{province.code} PARTITION OF umkm FOR VALUES IN ('{province.code}')"
        )
    op.execute("CREATE TABLE umkm_pdefault PARTITION OF umkm DEFAULT")
    op.execute("CREATE INDEX ix_umkm_id ON umkm (id)")
    op.execute("CREATE INDEX ix_umkm_village_prefix ON umkm (village_code text_pattern_ops)")
    op.execute("CREATE INDEX ix_umkm_kbli_prefix ON umkm (kbli_code text_pattern_ops)")
    op.execute("CREATE INDEX ix_umkm_owner_nik_hash ON umkm (owner_nik_hash)")
    op.execute("CREATE INDEX ix_umkm_scale ON umkm (scale)")
    op.execute(
        "CREATE INDEX ix_umkm_name_trgm ON umkm USING gin (business_name_search gin_trgm_ops)"
    )

    op.create_table(
        "umkm_changes",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "txid",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("pg_current_xact_id()::text::bigint"),
        ),
        sa.Column("umkm_id", sa.Uuid, nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("regency_code", sa.String(5), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("merged_into", sa.Uuid),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_umkm_changes_feed", "umkm_changes", ["txid", "seq"])
    op.create_index(
        "ix_umkm_changes_province_feed", "umkm_changes", ["province_code", "txid", "seq"]
    )
    op.create_index("ix_umkm_changes_regency_feed", "umkm_changes", ["regency_code", "txid", "seq"])
    op.create_table(
        "umkm_nib",
        sa.Column("nib", sa.String(13), primary_key=True),
        sa.Column("umkm_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("province_code", sa.String(2), nullable=False),
    )
    op.create_table(
        "scale_history",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("umkm_id", sa.Uuid, nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("previous_scale", sa.String(10)),
        sa.Column("new_scale", sa.String(10), nullable=False),
        sa.Column("capital_idr", sa.BigInteger),
        sa.Column("annual_sales_idr", sa.BigInteger),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.Text),
    )
    op.create_index("ix_scale_history_umkm", "scale_history", ["umkm_id", "changed_at"])
    op.create_table(
        "pii_access_log",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("umkm_id", sa.Uuid, nullable=False, index=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("actor_kind", sa.String(20), nullable=False),
        sa.Column("purpose", sa.Text),
        sa.Column(
            "accessed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    create_messaging_tables(op)
    create_auth_tables(op)
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)
    drop_auth_tables(op)
    drop_messaging_tables(op)
    op.drop_table("pii_access_log")
    op.drop_table("scale_history")
    op.drop_table("umkm_nib")
    op.drop_table("umkm_changes")
    op.execute("DROP TABLE umkm")
