from umkm_supply_chain.models import metadata
from umkm_shared.migrations_env import run_migrations

run_migrations(metadata)
