"""`python -m umkm_registry migrate|serve` — the registry as its own process."""

from umkm_shared.cli import service_main

from .app import MIGRATIONS, create_app
from .config import RegistrySettings

if __name__ == "__main__":
    service_main("umkm_registry", RegistrySettings, MIGRATIONS, create_app)
