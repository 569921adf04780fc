"""Koperasi registry and UMKM memberships (history kept; one open membership per pair).

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE koperasi (
            id uuid NOT NULL,
            name text NOT NULL,
            name_search text NOT NULL,
            legal_number varchar(100) NOT NULL,
            type varchar(20) NOT NULL,
            wilayah_code varchar(13) NOT NULL,
            province_code varchar(2) NOT NULL,
            regency_code varchar(5) NOT NULL,
            address text,
            status varchar(10) NOT NULL DEFAULT 'active',
            dissolved_on date,
            version integer NOT NULL DEFAULT 1,
            created_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_koperasi PRIMARY KEY (id),
            CONSTRAINT uq_koperasi_legal_number UNIQUE (legal_number),
            CONSTRAINT ck_koperasi_type CHECK (
                type IN ('konsumen', 'produsen', 'simpan_pinjam', 'pemasaran', 'jasa', 'serba_usaha')
            ),
            CONSTRAINT ck_koperasi_status CHECK (status IN ('active', 'dissolved')),
            CONSTRAINT ck_koperasi_dissolved CHECK ((status = 'dissolved') = (dissolved_on IS NOT NULL)),
            CONSTRAINT ck_koperasi_seat CHECK (
                province_code = left(wilayah_code, 2) AND regency_code = left(wilayah_code, 5)
            )
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_koperasi_wilayah_prefix ON koperasi (wilayah_code text_pattern_ops)"
    )
    op.execute(
        "CREATE INDEX ix_koperasi_name_trgm ON koperasi USING gin (name_search gin_trgm_ops)"
    )
    op.execute(
        """
        CREATE TABLE koperasi_memberships (
            id uuid NOT NULL,
            koperasi_id uuid NOT NULL,
            umkm_id uuid NOT NULL,
            joined_on date NOT NULL,
            left_on date,
            left_reason text,
            created_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            ended_by text,
            ended_at timestamptz,
            CONSTRAINT pk_koperasi_memberships PRIMARY KEY (id),
            CONSTRAINT fk_koperasi_memberships_koperasi_id_koperasi
                FOREIGN KEY (koperasi_id) REFERENCES koperasi (id),
            CONSTRAINT ck_koperasi_memberships_dates CHECK (left_on IS NULL OR left_on >= joined_on),
            CONSTRAINT ck_koperasi_memberships_reason CHECK ((left_on IS NULL) = (left_reason IS NULL))
        )
        """
    )
    # The rule "at most one open membership per (koperasi, UMKM)"; closed rows are the history.
    op.execute(
        "CREATE UNIQUE INDEX uq_koperasi_memberships_open ON koperasi_memberships "
        "(koperasi_id, umkm_id) WHERE left_on IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_koperasi_memberships_koperasi ON koperasi_memberships (koperasi_id, id)"
    )
    op.execute("CREATE INDEX ix_koperasi_memberships_umkm ON koperasi_memberships (umkm_id)")


def downgrade() -> None:
    op.execute("DROP TABLE koperasi_memberships")
    op.execute("DROP TABLE koperasi")
