"""Clustering tables (so far only the outbox and inbox every service has)."""

from sqlalchemy import MetaData

from umkm_shared.messaging.tables import define_messaging_tables

metadata = MetaData()
messaging_tables = define_messaging_tables(metadata)
