"""Clustering tables. The schema lives in migrations (0002); queries are SQL in repository.py
and jobs.py (set-based, COPY for bulk), so only the shared tables are declared here."""

from sqlalchemy import MetaData

from umkm_shared.idempotency import define_idempotency_table
from umkm_shared.messaging.tables import define_messaging_tables

metadata = MetaData()
messaging_tables = define_messaging_tables(metadata)
idempotency_table = define_idempotency_table(metadata)
