"""Operator commands for OAuth clients and keys.

    python -m umkm_shared.auth.cli create-client --database-url URL --name "Dinas KUKM Bandung" \
        --actor dinas --wilayah 32.73 --scopes "registry:read registry:write"
    python -m umkm_shared.auth.cli list-clients --database-url URL
    python -m umkm_shared.auth.cli disable-client --database-url URL CLIENT_ID
    python -m umkm_shared.auth.cli generate-keys --out-dir ./keys
    python -m umkm_shared.auth.cli generate-nik-keys

The `oauth_clients` table must exist (created by the service's migrations).
`--database-url` defaults to the DATABASE_URL environment variable.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from umkm_shared.auth.actor import ActorKind
from umkm_shared.auth.clients import ClientStore
from umkm_shared.auth.tokens import (
    generate_private_key,
    key_id,
    private_key_pem,
    public_jwk,
    public_key_pem,
)
from umkm_shared.db import Database


async def _create(args: argparse.Namespace) -> int:
    db = Database(args.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            client_id, secret = await ClientStore(session).create_client(
                name=args.name,
                kind=args.actor,
                scopes=[args.scopes],
                actor_id=args.actor_id,
                wilayah=args.wilayah,
            )
    finally:
        await db.dispose()
    print(f"client_id:     {client_id}")
    print(f"client_secret: {secret}")
    print("Store the secret now: it is not kept and cannot be shown again.", file=sys.stderr)
    return 0


async def _list(args: argparse.Namespace) -> int:
    db = Database(args.database_url, pool_size=1)
    try:
        async with db.session() as session:
            clients = await ClientStore(session).list_clients()
    finally:
        await db.dispose()
    for c in clients:
        state = "active" if c.active else f"disabled {c.disabled_at:%Y-%m-%d}"
        where = c.wilayah or c.actor_id or "-"
        scopes = " ".join(sorted(c.scopes)) or "-"
        print(f"{c.client_id}\t{c.kind.value}\t{where}\t{state}\t{scopes}\t{c.name}")
    return 0


async def _disable(args: argparse.Namespace) -> int:
    db = Database(args.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            done = await ClientStore(session).disable(args.client_id)
    finally:
        await db.dispose()
    print("disabled" if done else "no such active client", file=sys.stderr)
    return 0 if done else 1


def _generate_keys(args: argparse.Namespace) -> int:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    private_path = out / "jwt-private.pem"
    private_path.write_bytes(private_key_pem(key))
    private_path.chmod(0o600)
    (out / "jwt-public.pem").write_bytes(public_key_pem(key))
    (out / "jwks.json").write_text(json.dumps({"keys": [public_jwk(key.public_key())]}, indent=2))
    print(f"kid: {key_id(key)}")
    print(f"wrote {private_path} (keep secret), {out / 'jwt-public.pem'}, {out / 'jwks.json'}")
    return 0


def _generate_nik_keys(args: argparse.Namespace) -> int:
    enc = base64.b64encode(secrets.token_bytes(32)).decode()
    mac = base64.b64encode(secrets.token_bytes(32)).decode()
    prefix = args.env_prefix
    print(f"{prefix}NIK_ENCRYPTION_KEYS='{json.dumps({args.key_id: enc})}'")
    print(f"{prefix}NIK_ACTIVE_KEY_ID={args.key_id}")
    print(f"{prefix}NIK_HASH_KEY={mac}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m umkm_shared.auth.cli", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    db_default = os.environ.get("DATABASE_URL")

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--database-url", default=db_default, required=db_default is None)
        return sp

    c = with_db(sub.add_parser("create-client", help="register a client; prints its secret once"))
    c.add_argument("--name", required=True)
    c.add_argument("--actor", required=True, choices=[k.value for k in ActorKind])
    c.add_argument("--actor-id", help="bank, anchor or koperasi id")
    c.add_argument("--wilayah", help="Dinas region code, e.g. 32 or 32.73")
    c.add_argument(
        "--scopes", default="", help='space-separated, e.g. "registry:read registry:write"'
    )
    with_db(sub.add_parser("list-clients", help="list clients (never secrets)"))
    d = with_db(sub.add_parser("disable-client", help="disable a client"))
    d.add_argument("client_id")
    g = sub.add_parser("generate-keys", help="write an Ed25519 key pair (PEM) and a JWKS")
    g.add_argument("--out-dir", default=".")
    n = sub.add_parser("generate-nik-keys", help="print fresh NIK encryption and hash keys")
    n.add_argument("--key-id", default="k1")
    n.add_argument("--env-prefix", default="REGISTRY_", help="the service's settings env prefix")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate-keys":
            return _generate_keys(args)
        if args.command == "generate-nik-keys":
            return _generate_nik_keys(args)
        runner = {"create-client": _create, "list-clients": _list, "disable-client": _disable}
        return asyncio.run(runner[args.command](args))
    except ValidationError as e:
        print("invalid client: " + "; ".join(err["msg"] for err in e.errors()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
