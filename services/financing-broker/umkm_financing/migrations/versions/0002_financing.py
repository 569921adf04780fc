"""Financing core: read models, banks, KUR rules (seeded), programmes, the limits ledger,
applications, offers, loans, repayments, SNAP external ids, OAuth clients, idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import json

import sqlalchemy as sa
from alembic import op

from umkm_financing.domain import KurRules, seed_rules
from umkm_shared.auth.clients import create_auth_tables, drop_auth_tables
from umkm_shared.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE anchors (
    anchor_id uuid PRIMARY KEY,
    name text NOT NULL,
    sector text NOT NULL,
    status varchar(20) NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE umkm_facts (
    umkm_id uuid PRIMARY KEY,
    business_name text NOT NULL,
    owner_nik_masked varchar(16) NOT NULL,
    npwp varchar(16),
    nib varchar(13),
    founded_on date,
    scale varchar(10) NOT NULL,
    status varchar(10) NOT NULL,
    kbli_code varchar(5),
    province_code varchar(2) NOT NULL,
    regency_code varchar(5) NOT NULL,
    version integer NOT NULL,
    merged_into uuid,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE umkm_clusters (
    umkm_id uuid PRIMARY KEY,
    cluster_id uuid,
    sector_code text,
    assignment_seq bigint NOT NULL
);
CREATE INDEX ix_umkm_clusters_cluster ON umkm_clusters (cluster_id);
CREATE TABLE purchase_orders (
    po_id uuid PRIMARY KEY,
    anchor_id uuid NOT NULL,
    umkm_id uuid NOT NULL,
    po_number text,
    description text,
    amount_idr bigint,
    payment_terms_days integer,
    delivery_due_on date,
    status varchar(20) NOT NULL,
    goods_received boolean NOT NULL DEFAULT false,
    invoice_id uuid,
    invoice_number text,
    invoice_amount_idr bigint,
    invoice_due_on date,
    paid_amount_idr bigint,
    payment_reference text,
    paid_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE banks (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    code varchar(20) NOT NULL UNIQUE,
    partner_id varchar(64) NOT NULL UNIQUE,
    client_id text NOT NULL,
    signing_secret_encrypted bytea NOT NULL,
    status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE kur_rules (
    version varchar(40) PRIMARY KEY,
    effective_from date NOT NULL,
    rules jsonb NOT NULL,
    published_by text,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE programmes (
    id uuid PRIMARY KEY,
    bank_id uuid NOT NULL REFERENCES banks (id),
    anchor_id uuid NOT NULL,
    name text NOT NULL,
    products jsonb NOT NULL,
    supplier_sublimit_idr bigint NOT NULL CHECK (supplier_sublimit_idr > 0),
    status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_programmes_anchor ON programmes (anchor_id, status);
CREATE INDEX ix_programmes_bank ON programmes (bank_id);
-- The limits ledger: one row per layer, no layer may ever be over-committed.
CREATE TABLE limit_layers (
    id uuid PRIMARY KEY,
    kind varchar(20) NOT NULL CHECK (kind IN ('anchor_cap', 'programme', 'supplier')),
    bank_id uuid NOT NULL,
    anchor_id uuid NOT NULL,
    programme_id uuid,
    umkm_id uuid,
    limit_idr bigint NOT NULL CHECK (limit_idr >= 0),
    reserved_idr bigint NOT NULL DEFAULT 0 CHECK (reserved_idr >= 0),
    used_idr bigint NOT NULL DEFAULT 0 CHECK (used_idr >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_limit_layers_within CHECK (reserved_idr + used_idr <= limit_idr),
    CONSTRAINT ck_limit_layers_shape CHECK (
        (kind = 'anchor_cap' AND programme_id IS NULL AND umkm_id IS NULL)
        OR (kind = 'programme' AND programme_id IS NOT NULL AND umkm_id IS NULL)
        OR (kind = 'supplier' AND programme_id IS NOT NULL AND umkm_id IS NOT NULL))
);
CREATE UNIQUE INDEX uq_limit_layers_anchor_cap ON limit_layers (bank_id, anchor_id)
    WHERE kind = 'anchor_cap';
CREATE UNIQUE INDEX uq_limit_layers_programme ON limit_layers (programme_id)
    WHERE kind = 'programme';
CREATE UNIQUE INDEX uq_limit_layers_supplier ON limit_layers (programme_id, umkm_id)
    WHERE kind = 'supplier';
CREATE TABLE limit_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    programme_id uuid NOT NULL,
    bank_id uuid NOT NULL,
    umkm_id uuid NOT NULL,
    application_id uuid,
    offer_id uuid,
    kind varchar(10) NOT NULL CHECK (kind IN ('reserve', 'release', 'use', 'recover')),
    amount_idr bigint NOT NULL CHECK (amount_idr > 0),
    reason text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_limit_entries_programme ON limit_entries (programme_id);
CREATE TABLE applications (
    id uuid PRIMARY KEY,
    umkm_id uuid NOT NULL,
    anchor_id uuid NOT NULL,
    product varchar(20) NOT NULL,
    amount_requested_idr bigint NOT NULL CHECK (amount_requested_idr > 0),
    tenor_days integer NOT NULL CHECK (tenor_days > 0),
    purpose text,
    po_id uuid,
    invoice_id uuid,
    status varchar(30) NOT NULL,
    opened_by_kind varchar(20) NOT NULL,
    opened_by_id text,
    opened_by_client text NOT NULL,
    prior_kur_count_declared integer NOT NULL DEFAULT 0,
    bpjs_ketenagakerjaan text,
    owner_nik_encrypted bytea,
    nik_consent_reference text,
    nik_consent_at timestamptz,
    prescreen jsonb,
    rules_version varchar(40),
    confirmed_amount_idr bigint,
    accepted_offer_id uuid,
    bank_id uuid,
    referral_note text,
    info_response text,
    decision_note text,
    agreement_reference text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_applications_anchor ON applications (anchor_id, id);
CREATE INDEX ix_applications_umkm ON applications (umkm_id);
CREATE INDEX ix_applications_po ON applications (po_id);
CREATE INDEX ix_applications_opener ON applications (opened_by_kind, opened_by_id, id);
CREATE TABLE application_routes (
    application_id uuid NOT NULL REFERENCES applications (id),
    bank_id uuid NOT NULL,
    programme_id uuid NOT NULL,
    routed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, bank_id)
);
CREATE INDEX ix_application_routes_bank ON application_routes (bank_id, application_id);
CREATE TABLE application_history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id uuid NOT NULL,
    action varchar(30) NOT NULL,
    from_status varchar(30),
    to_status varchar(30) NOT NULL,
    actor_kind varchar(20) NOT NULL,
    actor_id text,
    client_id text,
    detail jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_application_history_app ON application_history (application_id, seq);
CREATE TABLE offers (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id),
    bank_id uuid NOT NULL,
    programme_id uuid NOT NULL,
    amount_idr bigint NOT NULL CHECK (amount_idr > 0),
    rate_pa numeric(9, 6) NOT NULL CHECK (rate_pa >= 0),
    tenor_days integer NOT NULL CHECK (tenor_days > 0),
    advance_pct numeric(5, 2),
    fees_idr bigint NOT NULL DEFAULT 0 CHECK (fees_idr >= 0),
    collateral_required boolean NOT NULL DEFAULT false,
    conditions text,
    valid_until timestamptz,
    status varchar(10) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'lapsed')),
    reserved_idr bigint NOT NULL DEFAULT 0 CHECK (reserved_idr >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_offers_application_bank UNIQUE (application_id, bank_id)
);
CREATE TABLE loans (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL UNIQUE REFERENCES applications (id),
    offer_id uuid NOT NULL,
    bank_id uuid NOT NULL,
    anchor_id uuid NOT NULL,
    umkm_id uuid NOT NULL,
    programme_id uuid NOT NULL,
    product varchar(20) NOT NULL,
    po_id uuid,
    principal_idr bigint NOT NULL CHECK (principal_idr > 0),
    fees_idr bigint NOT NULL CHECK (fees_idr >= 0),
    rate_pa numeric(9, 6) NOT NULL,
    disbursed_on date NOT NULL,
    maturity_on date NOT NULL,
    schedule jsonb NOT NULL,
    disbursement_reference text NOT NULL,
    principal_paid_idr bigint NOT NULL DEFAULT 0,
    interest_paid_idr bigint NOT NULL DEFAULT 0,
    interest_unpaid_idr bigint NOT NULL DEFAULT 0,
    interest_accrued_to date NOT NULL,
    remainder_paid_out_idr bigint NOT NULL DEFAULT 0,
    status varchar(10) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    kol smallint NOT NULL DEFAULT 1 CHECK (kol BETWEEN 1 AND 5),
    days_past_due integer NOT NULL DEFAULT 0,
    kol_as_of date,
    closure_reason varchar(20),
    closed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_loans_paid CHECK (principal_paid_idr BETWEEN 0 AND principal_idr)
);
CREATE INDEX ix_loans_po ON loans (po_id) WHERE status = 'active';
CREATE INDEX ix_loans_bank ON loans (bank_id);
CREATE INDEX ix_loans_anchor ON loans (anchor_id);
CREATE INDEX ix_loans_umkm ON loans (umkm_id);
CREATE TABLE repayments (
    id uuid PRIMARY KEY,
    loan_id uuid NOT NULL REFERENCES loans (id),
    application_id uuid NOT NULL,
    source varchar(30) NOT NULL,
    reference text NOT NULL,
    amount_idr bigint NOT NULL CHECK (amount_idr > 0),
    interest_idr bigint NOT NULL CHECK (interest_idr >= 0),
    principal_idr bigint NOT NULL CHECK (principal_idr >= 0),
    remainder_idr bigint NOT NULL CHECK (remainder_idr >= 0),
    outstanding_after_idr bigint NOT NULL,
    paid_on date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_repayments_sum CHECK (interest_idr + principal_idr + remainder_idr = amount_idr),
    CONSTRAINT uq_repayments_reference UNIQUE (loan_id, reference)
);
-- SNAP X-EXTERNAL-ID: unique per partner per day (Asia/Jakarta calendar day).
CREATE TABLE snap_external_ids (
    partner_id varchar(64) NOT NULL,
    day date NOT NULL,
    external_id varchar(64) NOT NULL,
    method varchar(10) NOT NULL,
    path text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, day, external_id)
);
CREATE TABLE pii_access_log (
    id uuid PRIMARY KEY,
    application_id uuid NOT NULL,
    client_id text NOT NULL,
    actor_kind varchar(20) NOT NULL,
    actor_id text,
    accessed_at timestamptz NOT NULL DEFAULT now()
);
"""

TABLES = (
    "pii_access_log",
    "snap_external_ids",
    "repayments",
    "loans",
    "offers",
    "application_history",
    "application_routes",
    "applications",
    "limit_entries",
    "limit_layers",
    "programmes",
    "kur_rules",
    "banks",
    "purchase_orders",
    "umkm_clusters",
    "umkm_facts",
    "anchors",
)


def upgrade() -> None:
    for statement in DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    rules = KurRules.model_validate(seed_rules())
    op.get_bind().execute(
        sa.text(
            "INSERT INTO kur_rules (version, effective_from, rules, published_by) "
            "VALUES (:v, :f, CAST(:r AS jsonb), 'migration 0002')"
        ),
        {
            "v": rules.version,
            "f": rules.effective_from,
            "r": json.dumps(rules.model_dump(mode="json")),
        },
    )
    create_auth_tables(op)
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)
    drop_auth_tables(op)
    for table in TABLES:
        op.execute(f"DROP TABLE {table}")
