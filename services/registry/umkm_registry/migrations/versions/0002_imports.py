"""Bulk import: jobs and their per-row error report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE imports (
            id uuid PRIMARY KEY,
            client_id text NOT NULL,
            actor_kind varchar(20) NOT NULL,
            wilayah varchar(13),
            file_name text NOT NULL,
            sha256 varchar(64) NOT NULL,
            size_bytes bigint NOT NULL,
            format varchar(10) NOT NULL,
            encoding varchar(20),
            delimiter varchar(1),
            sheet text,
            spool_path text NOT NULL,
            column_mapping jsonb NOT NULL DEFAULT '{}',
            status varchar(10) NOT NULL DEFAULT 'queued',
            phase varchar(10) NOT NULL DEFAULT 'staging',
            rows_read bigint NOT NULL DEFAULT 0,
            bytes_read bigint NOT NULL DEFAULT 0,
            rows_total bigint NOT NULL DEFAULT 0,
            rows_staged bigint NOT NULL DEFAULT 0,
            rows_failed bigint NOT NULL DEFAULT 0,
            rows_duplicate bigint NOT NULL DEFAULT 0,
            inserted bigint NOT NULL DEFAULT 0,
            updated bigint NOT NULL DEFAULT 0,
            unchanged bigint NOT NULL DEFAULT 0,
            merge_total bigint NOT NULL DEFAULT 0,
            merge_done bigint NOT NULL DEFAULT 0,
            merge_cursor integer NOT NULL DEFAULT 0,
            merge_span integer NOT NULL DEFAULT 0,
            merged_batches integer[] NOT NULL DEFAULT '{}',
            summary jsonb NOT NULL DEFAULT '{}',
            error text,
            attempts integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            heartbeat_at timestamptz,
            CONSTRAINT ck_imports_status CHECK (status IN ('queued', 'running', 'done', 'failed')),
            CONSTRAINT ck_imports_phase CHECK (phase IN ('staging', 'merging', 'finished')),
            CONSTRAINT ck_imports_format CHECK (format IN ('csv', 'xlsx', 'ndjson'))
        )
        """
    )
    # the worker's queue: small, whatever the history
    op.execute(
        "CREATE INDEX ix_imports_pending ON imports (created_at) "
        "WHERE status IN ('queued', 'running')"
    )
    op.execute("CREATE INDEX ix_imports_client ON imports (client_id, id)")
    op.execute("CREATE INDEX ix_imports_wilayah ON imports (wilayah text_pattern_ops, id)")
    op.execute(
        """
        CREATE TABLE import_errors (
            import_id uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
            row_number bigint NOT NULL,
            seq smallint NOT NULL,
            column_name text,
            value text,
            reason text NOT NULL,
            CONSTRAINT pk_import_errors PRIMARY KEY (import_id, row_number, seq)
        )
        """
    )


def downgrade() -> None:
    # work tables of jobs that never finished
    op.execute(
        """
        DO $$
        DECLARE t text;
        BEGIN
            FOR t IN SELECT tablename FROM pg_tables
                     WHERE schemaname = current_schema()
                       AND (tablename LIKE 'import\\_stage\\_%' OR tablename LIKE 'import\\_win\\_%')
            LOOP
                EXECUTE format('DROP TABLE %I', t);
            END LOOP;
        END $$
        """
    )
    op.execute("DROP TABLE import_errors")
    op.execute("DROP TABLE imports")
