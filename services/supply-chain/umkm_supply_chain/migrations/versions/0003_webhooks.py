"""Webhook endpoints, messages and delivery attempts (umkm_shared.webhooks).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

from umkm_shared.webhooks import create_webhook_tables, drop_webhook_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_webhook_tables(op)


def downgrade() -> None:
    drop_webhook_tables(op)
