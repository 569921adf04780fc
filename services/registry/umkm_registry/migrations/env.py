from umkm_registry.models import metadata
from umkm_shared.migrations_env import run_migrations

run_migrations(metadata)
