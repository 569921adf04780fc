from umkm_financing.models import metadata
from umkm_shared.migrations_env import run_migrations

run_migrations(metadata)
