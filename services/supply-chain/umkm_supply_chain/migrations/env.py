from umkm_shared.migrations_env import run_migrations
from umkm_supply_chain.models import metadata

run_migrations(metadata)
