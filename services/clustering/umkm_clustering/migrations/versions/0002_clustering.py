"""Clustering: UMKM read model, taxonomy, clusters and members, formation runs, programmes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import json

from alembic import op
from sqlalchemy import text

from umkm_shared.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "programme_results",
    "programme_members",
    "programme_clusters",
    "programmes",
    "formation_runs",
    "cluster_members",
    "clusters",
    "taxonomy_versions",
    "anchors",
    "koperasi_members",
    "koperasi",
    "umkm",
)


def upgrade() -> None:
    from umkm_clustering.taxonomy import default_taxonomy  # data as of this revision

    op.execute(
        """
        CREATE TABLE umkm (
            id uuid PRIMARY KEY,
            version integer NOT NULL,
            kbli_code varchar(10) NOT NULL,
            province_code varchar(2) NOT NULL,
            regency_code varchar(5) NOT NULL,
            district_code varchar(8) NOT NULL,
            village_code varchar(13) NOT NULL,
            latitude double precision,
            longitude double precision,
            lat double precision NOT NULL,
            lon double precision NOT NULL,
            location_source text NOT NULL,
            scale varchar(10) NOT NULL,
            status varchar(10) NOT NULL,
            business_name text NOT NULL,
            merged_into uuid,
            updated_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX ix_umkm_regency ON umkm (regency_code)")
    op.execute(
        """
        CREATE TABLE koperasi (
            id uuid PRIMARY KEY,
            version integer NOT NULL,
            name text NOT NULL,
            type varchar(20) NOT NULL,
            province_code varchar(2) NOT NULL,
            regency_code varchar(5) NOT NULL,
            status varchar(10) NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE koperasi_members (
            membership_id uuid PRIMARY KEY,
            umkm_id uuid NOT NULL,
            koperasi_id uuid NOT NULL,
            joined_on date NOT NULL,
            left_on date
        )
        """
    )
    op.execute("CREATE INDEX ix_koperasi_members_umkm ON koperasi_members (umkm_id)")
    op.execute(
        """
        CREATE TABLE anchors (
            id uuid PRIMARY KEY,
            version integer NOT NULL,
            name text NOT NULL,
            sector text NOT NULL,
            status varchar(10) NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE taxonomy_versions (
            version integer PRIMARY KEY,
            data jsonb NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        text(
            "INSERT INTO taxonomy_versions (version, data, created_by) "
            "VALUES (1, CAST(:d AS jsonb), 'migration')"
        ).bindparams(d=json.dumps(default_taxonomy()))
    )
    op.execute(
        """
        CREATE TABLE clusters (
            id uuid PRIMARY KEY,
            code text NOT NULL UNIQUE,
            sector_code text NOT NULL,
            name text NOT NULL,
            province_code varchar(2) NOT NULL,
            province_codes text[] NOT NULL,
            regency_codes text[] NOT NULL,
            joined_sectors text[] NOT NULL DEFAULT '{}',
            status varchar(10) NOT NULL,
            status_reason text,
            member_count integer NOT NULL,
            centre_lat double precision,
            centre_lon double precision,
            min_lat double precision,
            max_lat double precision,
            min_lon double precision,
            max_lon double precision,
            operator_anchor_id uuid,
            operator_umkm_id uuid,
            operator_status varchar(10) NOT NULL DEFAULT 'none',
            version integer NOT NULL DEFAULT 1,
            run_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            retired_at timestamptz,
            CONSTRAINT ck_clusters_status CHECK (status IN ('forming', 'active', 'retired'))
        )
        """
    )
    op.execute("CREATE INDEX ix_clusters_sector_status ON clusters (sector_code, status)")
    op.execute("CREATE INDEX ix_clusters_regencies ON clusters USING gin (regency_codes)")
    op.execute("CREATE INDEX ix_clusters_provinces ON clusters USING gin (province_codes)")
    op.execute("CREATE INDEX ix_clusters_anchor ON clusters (operator_anchor_id)")
    op.execute(
        """
        CREATE TABLE cluster_members (
            umkm_id uuid PRIMARY KEY,
            cluster_id uuid NOT NULL,
            sector_code text NOT NULL,
            province_code varchar(2) NOT NULL,
            assignment_seq bigint NOT NULL,
            assigned_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX ix_cluster_members_cluster ON cluster_members (cluster_id, umkm_id)")
    op.execute("CREATE SEQUENCE assignment_seq")
    op.execute(
        """
        CREATE TABLE formation_runs (
            id uuid PRIMARY KEY,
            status varchar(12) NOT NULL,
            phase text NOT NULL,
            progress real NOT NULL DEFAULT 0,
            mode varchar(12) NOT NULL,
            params jsonb NOT NULL,
            taxonomy_version integer,
            requested_by text NOT NULL,
            requested_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            error text,
            summary jsonb,
            report jsonb,
            CONSTRAINT ck_formation_runs_status
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed'))
        )
        """
    )
    op.execute("CREATE INDEX ix_formation_runs_status ON formation_runs (status, requested_at)")
    op.execute(
        """
        CREATE TABLE programmes (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            kind varchar(30) NOT NULL,
            description text,
            sector_codes text[] NOT NULL,
            wilayah_codes text[] NOT NULL,
            scales text[] NOT NULL,
            owner_wilayah text,
            created_by text NOT NULL,
            created_by_kind varchar(10) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE programme_clusters (
            programme_id uuid NOT NULL REFERENCES programmes (id),
            cluster_id uuid NOT NULL REFERENCES clusters (id),
            enrolled_by text NOT NULL,
            enrolled_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (programme_id, cluster_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE programme_members (
            programme_id uuid NOT NULL REFERENCES programmes (id),
            umkm_id uuid NOT NULL,
            cluster_id uuid NOT NULL,
            enrolled_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (programme_id, umkm_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE programme_results (
            id uuid PRIMARY KEY,
            programme_id uuid NOT NULL REFERENCES programmes (id),
            cluster_id uuid NOT NULL REFERENCES clusters (id),
            metric text NOT NULL,
            value double precision NOT NULL,
            note text,
            recorded_by text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX ix_programme_results ON programme_results (programme_id, cluster_id)")
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)
    op.execute("DROP SEQUENCE IF EXISTS assignment_seq")
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
