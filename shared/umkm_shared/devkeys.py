"""Keys for development, tests and the embedded mode: a token-signing key and NIK keys,
generated once and (optionally) kept in a folder so tokens and ciphertexts survive restarts.

Production never uses this: its keys come from the secret store through settings.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from umkm_shared.auth.tokens import generate_private_key, private_key_pem, public_key_pem


def _new() -> dict[str, Any]:
    key = generate_private_key()
    return {
        "jwt_private_key": private_key_pem(key).decode(),
        "jwt_public_keys": public_key_pem(key).decode(),
        "nik_encryption_keys": {"dev1": base64.b64encode(secrets.token_bytes(32)).decode()},
        "nik_active_key_id": "dev1",
        "nik_hash_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def dev_secrets(folder: Path | None = None) -> dict[str, Any]:
    """Settings values (as keyword arguments for any ServiceSettings) holding dev keys."""
    if folder is None:
        return _new()
    path = folder / "dev-secrets.json"
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    folder.mkdir(parents=True, exist_ok=True)
    values = _new()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return values
