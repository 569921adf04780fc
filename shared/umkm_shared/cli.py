"""The command line every service shares: `python -m umkm_<svc> migrate|serve`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from umkm_shared.db import async_url, create_database_if_missing, upgrade_sync
from umkm_shared.settings import ServiceSettings


def migrate(settings: ServiceSettings, migrations_dir: Path) -> None:
    """Create the service's database when missing, then upgrade its schema to head."""
    url = make_url(async_url(settings.database_url))
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(create_database_if_missing(admin, url.database or ""))
    upgrade_sync(settings.database_url, migrations_dir)


def service_main(
    package: str,
    settings_cls: type[ServiceSettings],
    migrations_dir: Path,
    app_factory: Callable[[], FastAPI],
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if missing and upgrade it to head")
    serve = sub.add_parser("serve", help="serve HTTP and run the outbox relay and consumers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="migrate before serving")
    args = parser.parse_args()

    settings = settings_cls()
    if args.command == "migrate" or getattr(args, "migrate", False):
        migrate(settings, migrations_dir)
    if args.command == "serve":
        import uvicorn

        uvicorn.run(
            f"{package}.app:{app_factory.__name__}",
            factory=True,
            host=args.host,
            port=args.port,
            log_config=None,  # our structlog configuration handles uvicorn's loggers
            proxy_headers=True,
        )
