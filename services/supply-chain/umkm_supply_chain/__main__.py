"""`python -m umkm_supply_chain migrate|serve`."""

from umkm_shared.cli import service_main

from .app import MIGRATIONS, create_app
from .config import Settings

if __name__ == "__main__":
    service_main("umkm_supply_chain", Settings, MIGRATIONS, create_app)
