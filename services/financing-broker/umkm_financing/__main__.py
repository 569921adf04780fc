"""`python -m umkm_financing migrate|serve`."""

from umkm_shared.cli import service_main

from .app import MIGRATIONS, create_app
from .config import Settings

if __name__ == "__main__":
    service_main("umkm_financing", Settings, MIGRATIONS, create_app)
