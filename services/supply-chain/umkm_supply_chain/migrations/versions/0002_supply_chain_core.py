"""Anchors, supplier profiles, procurement requests, matches, orders, receipts, invoices;
OAuth clients and idempotency keys.

The tables are created from the model definitions as they stand at this revision (the first
release of the domain); later changes get migrations of their own.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

from umkm_shared.auth import create_auth_tables, drop_auth_tables
from umkm_shared.idempotency import create_idempotency_table, drop_idempotency_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "anchors",
    "anchor_sites",
    "suppliers",
    "supplier_products",
    "supplier_memberships",
    "clusters",
    "cluster_assignments",
    "procurement_requests",
    "match_runs",
    "purchase_orders",
    "goods_receipts",
    "invoices",
)


def upgrade() -> None:
    from umkm_supply_chain.models import metadata

    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[t] for t in TABLES])
    create_auth_tables(op)
    create_idempotency_table(op)
    # Every write of a supplier profile stamps the writing transaction id: the matching index
    # reads rows of finished transactions past its cursor (see matching/index.py).
    op.execute(
        """
        create function suppliers_stamp_txid() returns trigger language plpgsql as $$
        begin
            new.sync_txid := pg_current_xact_id()::text::bigint;
            return new;
        end $$
        """
    )
    op.execute(
        """
        create trigger suppliers_stamp_txid before insert or update on suppliers
            for each row execute function suppliers_stamp_txid();
        """
    )


def downgrade() -> None:
    from umkm_supply_chain.models import metadata

    op.execute("drop trigger if exists suppliers_stamp_txid on suppliers")
    op.execute("drop function if exists suppliers_stamp_txid()")
    drop_idempotency_table(op)
    drop_auth_tables(op)
    bind = op.get_bind()
    metadata.drop_all(bind, tables=[metadata.tables[t] for t in reversed(TABLES)])
