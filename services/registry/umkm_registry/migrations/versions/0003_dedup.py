"""Dedup: umkm.merged_into, the duplicate_candidates review queue and merge_history.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On the partitioned parent: every partition gets the column (no rewrite: NULL default).
    op.execute("ALTER TABLE umkm ADD COLUMN merged_into uuid")
    op.execute(
        """
        CREATE TABLE duplicate_candidates (
            id uuid NOT NULL,
            umkm_a uuid NOT NULL,
            umkm_b uuid NOT NULL,
            province_code varchar(2) NOT NULL,
            regency_code varchar(5) NOT NULL,
            village_code varchar(13) NOT NULL,
            score double precision NOT NULL,
            reason text NOT NULL,
            status varchar(12) NOT NULL DEFAULT 'open',
            survivor_id uuid,
            note text,
            decided_by text,
            decided_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_duplicate_candidates PRIMARY KEY (id),
            CONSTRAINT uq_duplicate_candidates_pair UNIQUE (umkm_a, umkm_b),
            CONSTRAINT ck_duplicate_candidates_ordered_pair CHECK (umkm_a < umkm_b),
            CONSTRAINT ck_duplicate_candidates_status
                CHECK (status IN ('open', 'merged', 'kept_both', 'superseded')),
            CONSTRAINT ck_duplicate_candidates_decided
                CHECK ((status = 'open') = (decided_at IS NULL)),
            CONSTRAINT ck_duplicate_candidates_survivor
                CHECK ((status = 'merged') = (survivor_id IS NOT NULL))
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_duplicate_candidates_queue "
        "ON duplicate_candidates (province_code, status, id)"
    )
    op.execute(
        "CREATE INDEX ix_duplicate_candidates_village "
        "ON duplicate_candidates (village_code text_pattern_ops)"
    )
    op.execute("CREATE INDEX ix_duplicate_candidates_umkm_b ON duplicate_candidates (umkm_b)")
    op.execute(
        """
        CREATE TABLE merge_history (
            id uuid NOT NULL,
            candidate_id uuid,
            survivor_id uuid NOT NULL,
            merged_id uuid NOT NULL,
            province_code varchar(2) NOT NULL,
            merged_record jsonb NOT NULL,
            survivor_before jsonb NOT NULL,
            filled_fields jsonb NOT NULL DEFAULT '[]',
            decided_by text NOT NULL,
            merged_at timestamptz NOT NULL,
            CONSTRAINT pk_merge_history PRIMARY KEY (id),
            CONSTRAINT uq_merge_history_merged_id UNIQUE (merged_id)
        )
        """
    )
    op.execute("CREATE INDEX ix_merge_history_survivor ON merge_history (survivor_id)")


def downgrade() -> None:
    op.execute("DROP TABLE merge_history")
    op.execute("DROP TABLE duplicate_candidates")
    op.execute("ALTER TABLE umkm DROP COLUMN merged_into")
