"""Generate fresh secret material for the distributed deployment. Nothing it writes is committed.

    uv run python deploy/generate_secrets.py compose            # -> deploy/compose/.env
    uv run python deploy/generate_secrets.py compose --add-missing   # upgrade an existing .env
    uv run python deploy/generate_secrets.py k8s --out-dir DIR  # -> DIR/<secret-name>/<KEY> files

`compose` writes the env file that `docker compose --env-file deploy/compose/.env` interpolates;
`--add-missing` keeps every value of an existing file and appends only the variables it lacks
(after a release that needs new secrets), so stored NIKs and DB passwords stay valid.
`k8s` writes one folder per Kubernetes Secret, one file per key, for
`kubectl -n umkm create secret generic registry-secrets --from-file=DIR/registry-secrets/`.

The values are made with the shared package's own helpers (umkm_shared.auth.tokens,
umkm_shared.crypto) in the formats of the services' settings (`ServiceSettings` subclasses):
- `<PREFIX>JWT_PUBLIC_KEYS`: PEM public key(s) that verify access tokens; every service. Key ids
  are RFC 7638 thumbprints, so rotating = listing the new PEM after the old one.
- `<PREFIX>JWT_PRIVATE_KEY`: the PEM private key (Ed25519) that signs access tokens; the services
  hosting an OAuth2 token endpoint (`/v1/oauth/token`): registry (ministry, Dinas, koperasi),
  financing-broker (banks) and supply-chain (anchors). One key for all three, so a token from
  any of them verifies everywhere with the one public key.
- `<PREFIX>NIK_ENCRYPTION_KEYS`: JSON object, key id -> base64 of 32 random bytes (AES-256-GCM);
  `<PREFIX>NIK_ACTIVE_KEY_ID` names the one that encrypts new values; `<PREFIX>NIK_HASH_KEY`:
  base64 of 32 random bytes (HMAC-SHA256 key of the NIK lookup hash). The services that store
  NIKs: the registry (owners) and financing-broker (consented NIKs on applications), each with
  its own key ring: a leaked financing key opens no registry record.
- `FINANCING_SIGNING_SECRET_KEYS` (same JSON format) and `FINANCING_SIGNING_SECRET_ACTIVE_KEY_ID`:
  AES-256-GCM keys sealing the banks' SNAP request-signing secrets at rest.
- Database passwords (compose only; on Kubernetes CloudNativePG generates them): hex, URL-safe.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from umkm_shared.auth.tokens import (
    generate_private_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
)
from umkm_shared.crypto import NikVault

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ENV_FILE = REPO / "deploy" / "compose" / ".env"

# Kubernetes Secret name -> env prefix of the service that reads it (deploy/k8s/base/services).
K8S_SECRETS: dict[str, str] = {
    "registry-secrets": "REGISTRY_",
    "clustering-secrets": "CLUSTERING_",
    "financing-broker-secrets": "FINANCING_",
    "supply-chain-secrets": "SUPPLY_CHAIN_",
}
# Services hosting `/v1/oauth/token` (they sign tokens) and services storing NIKs encrypted.
TOKEN_ISSUERS = ("REGISTRY_", "FINANCING_", "SUPPLY_CHAIN_")
NIK_HOLDERS = ("REGISTRY_", "FINANCING_")
DB_PASSWORD_VARS = (
    "POSTGRES_PASSWORD",
    "REGISTRY_DB_PASSWORD",
    "CLUSTERING_DB_PASSWORD",
    "FINANCING_DB_PASSWORD",
    "SUPPLY_CHAIN_DB_PASSWORD",
)
KEY_ID = "k1"


@dataclass(frozen=True)
class NikKeys:
    encryption_keys: str  # JSON: {kid: base64}
    active_key_id: str
    hash_key: str  # base64


@dataclass(frozen=True)
class Material:
    jwt_public_keys: str  # PEM
    jwt_private_key: str  # PEM
    nik: dict[str, NikKeys]  # env prefix -> that service's own NIK key ring
    signing_secret_keys: str  # JSON: {kid: base64}
    signing_secret_active_key_id: str


def _key_ring() -> str:
    return json.dumps({KEY_ID: base64.b64encode(NikVault.generate_key()).decode()})


def generate() -> Material:
    signing_key = generate_private_key()
    return Material(
        jwt_public_keys=public_key_pem(signing_key).decode(),
        jwt_private_key=private_key_pem(signing_key).decode(),
        nik={
            prefix: NikKeys(
                encryption_keys=_key_ring(),
                active_key_id=KEY_ID,
                hash_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            )
            for prefix in NIK_HOLDERS
        },
        signing_secret_keys=_key_ring(),
        signing_secret_active_key_id=KEY_ID,
    )


def _pem_line(name: str, pem: str) -> str:
    """Double quotes turn the PEM's `\\n` escapes back into newlines (compose's env-file syntax)."""
    escaped = pem.replace("\n", "\\n")
    return f'{name}="{escaped}"'


def compose_sections(material: Material) -> list[tuple[str, list[str]]]:
    """(comment, lines) per group of variables; single quotes keep JSON and base64 literal."""
    sections: list[tuple[str, list[str]]] = [
        (
            "# PostgreSQL superuser and one login role per service database (postgres-init.sql).",
            [f"{name}={secrets.token_hex(24)}" for name in DB_PASSWORD_VARS],
        ),
        (
            "# Access tokens: every service verifies with the public keys; the services hosting\n"
            "# /v1/oauth/token (registry, financing-broker, supply-chain) sign with the one key.",
            [
                _pem_line("JWT_PUBLIC_KEYS", material.jwt_public_keys),
                _pem_line("JWT_PRIVATE_KEY", material.jwt_private_key),
            ],
        ),
    ]
    for prefix, nik in material.nik.items():
        sections.append(
            (
                f"# NIK encryption (AES-256-GCM key ring) and lookup hash (HMAC-SHA256), "
                f"{prefix.removesuffix('_').lower()}'s own.",
                [
                    f"{prefix}NIK_ENCRYPTION_KEYS='{nik.encryption_keys}'",
                    f"{prefix}NIK_ACTIVE_KEY_ID={nik.active_key_id}",
                    f"{prefix}NIK_HASH_KEY='{nik.hash_key}'",
                ],
            )
        )
    sections.append(
        (
            "# Financing broker: AES-256-GCM key ring sealing the banks' SNAP signing secrets.",
            [
                f"FINANCING_SIGNING_SECRET_KEYS='{material.signing_secret_keys}'",
                f"FINANCING_SIGNING_SECRET_ACTIVE_KEY_ID={material.signing_secret_active_key_id}",
            ],
        )
    )
    return sections


def compose_env(material: Material) -> str:
    """The env file for `docker compose --env-file`."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    lines = [f"# Generated by deploy/generate_secrets.py at {now}. Private: never commit or share."]
    for comment, body in compose_sections(material):
        lines += ["", comment, *body]
    return "\n".join(lines) + "\n"


_ENV_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", re.M)
# Variables an older env file may hold under another name: old name -> new name.
RENAMED = {"REGISTRY_JWT_PRIVATE_KEY": "JWT_PRIVATE_KEY"}


def _raw_value(text: str, name: str) -> str | None:
    """The value of `name=...` as written in an env file (quotes and escapes kept)."""
    m = re.search(rf"^\s*(?:export\s+)?{name}\s*=(.*)$", text, re.M)
    return m[1].strip() if m else None


def compose_additions(existing: str, material: Material) -> str:
    """What to append to an existing env file: only the variables it lacks. A renamed variable
    keeps its old value under the new name (the signing key must not change, or the tokens
    already issued stop verifying)."""
    present = set(_ENV_NAME.findall(existing))
    out: list[str] = []
    for old, new in RENAMED.items():
        value = _raw_value(existing, old)
        if value is not None and new not in present:
            out += ["", f"# {old}, renamed: one key signs in every token issuer.", f"{new}={value}"]
            present.add(new)
    # The key pair must stay a pair: a fresh half would not match the kept one.
    private = _raw_value(existing, "JWT_PRIVATE_KEY") or _raw_value(
        existing, "REGISTRY_JWT_PRIVATE_KEY"
    )
    if private is not None and "JWT_PUBLIC_KEYS" not in present:
        pem = private.strip().strip('"').replace("\\n", "\n")
        public = public_key_pem(load_private_key(pem)).decode()
        material = replace(material, jwt_public_keys=public, jwt_private_key=pem)
    elif private is None and "JWT_PUBLIC_KEYS" in present:
        raise ValueError(
            "the file has JWT_PUBLIC_KEYS but no JWT_PRIVATE_KEY: a new private key would sign "
            "tokens those public keys do not verify; add the matching private key by hand"
        )
    for comment, body in compose_sections(material):
        missing = [line for line in body if line.split("=", 1)[0] not in present]
        if missing:
            out += ["", comment, *missing]
    if not out:
        return ""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return (
        "\n".join(["", f"# Added by deploy/generate_secrets.py --add-missing at {now}.", *out])
        + "\n"
    )


def _nik_files(prefix: str, nik: NikKeys) -> dict[str, str]:
    return {
        f"{prefix}NIK_ENCRYPTION_KEYS": nik.encryption_keys,
        f"{prefix}NIK_ACTIVE_KEY_ID": nik.active_key_id,
        f"{prefix}NIK_HASH_KEY": nik.hash_key,
    }


def k8s_secret_files(material: Material) -> dict[str, dict[str, str]]:
    """Secret name -> {key: value}: every service the public keys; the token issuers the private
    key; the NIK holders their own NIK key ring; financing-broker its signing-secret keys."""
    out: dict[str, dict[str, str]] = {}
    for name, prefix in K8S_SECRETS.items():
        keys = {f"{prefix}JWT_PUBLIC_KEYS": material.jwt_public_keys}
        if prefix in TOKEN_ISSUERS:
            keys[f"{prefix}JWT_PRIVATE_KEY"] = material.jwt_private_key
        if prefix in material.nik:
            keys |= _nik_files(prefix, material.nik[prefix])
        if prefix == "FINANCING_":
            keys |= {
                "FINANCING_SIGNING_SECRET_KEYS": material.signing_secret_keys,
                "FINANCING_SIGNING_SECRET_ACTIVE_KEY_ID": material.signing_secret_active_key_id,
            }
        out[name] = keys
    return out


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _compose(out: Path, material: Material, force: bool, add_missing: bool) -> int:
    if add_missing:
        if not out.exists():
            print(f"{out} does not exist; run without --add-missing", file=sys.stderr)
            return 1
        try:
            additions = compose_additions(out.read_text(), material)
        except ValueError as e:
            print(f"{out}: {e}", file=sys.stderr)
            return 1
        if not additions:
            print(f"{out} has every variable; nothing added")
            return 0
        with out.open("a") as f:
            f.write(additions)
        os.chmod(out, 0o600)
        added = sorted(set(_ENV_NAME.findall(additions)))
        print(f"added to {out}: {', '.join(added)}")
        return 0
    if out.exists() and not force:
        print(
            f"{out} exists; pass --add-missing to append new variables only, or --force to "
            "replace it (old data becomes unreadable: the NIK keys and DB passwords change)",
            file=sys.stderr,
        )
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_private(out, compose_env(material))
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="target", required=True)
    p_compose = sub.add_parser("compose", help="write the env file for docker compose")
    p_compose.add_argument("--out", type=Path, default=DEFAULT_ENV_FILE)
    mode = p_compose.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="overwrite an existing file")
    mode.add_argument(
        "--add-missing",
        action="store_true",
        help="keep an existing file's values and append only the variables it lacks",
    )
    p_k8s = sub.add_parser("k8s", help="write one folder per Kubernetes Secret")
    p_k8s.add_argument("--out-dir", type=Path, required=True)
    p_k8s.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)

    material = generate()
    if args.target == "compose":
        return _compose(args.out, material, args.force, args.add_missing)

    base: Path = args.out_dir
    for secret_name, keys in k8s_secret_files(material).items():
        folder = base / secret_name
        if folder.exists() and any(folder.iterdir()) and not args.force:
            print(f"{folder} is not empty; pass --force to replace it", file=sys.stderr)
            return 1
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for key, value in keys.items():
            _write_private(folder / key, value)
        print(f"kubectl -n umkm create secret generic {secret_name} --from-file={folder}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
