"""Endpoint signing secrets: generated here, stored sealed, signed with `standardwebhooks`.

A secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form). At rest:

- with an encryption key (`Webhooks(..., secret_key=<32 bytes>)`, recommended in production):
  `v1:` + base64(nonce | AES-256-GCM(secret)), the table name as associated data;
- without one: `plain:` + the secret (dev and tests; the database is then as sensitive as the
  secrets). Both forms are read, so a key can be introduced later (rotate the endpoints' secrets
  to reseal them).

A secret is shown to its owner once, in the answer to creation or rotation; every other read
returns the endpoint without it.
"""

from __future__ import annotations

import base64
import os
import secrets as _secrets
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from standardwebhooks import Webhook

__all__ = ["SecretBox", "generate_secret", "sign"]

SECRET_PREFIX = "whsec_"
_SEALED = "v1:"
_PLAIN = "plain:"
_AAD = b"umkm-webhook-secret"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode()


class SecretBox:
    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) != 32:
            raise ValueError("the webhook secret key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key) if key is not None else None

    def seal(self, secret: str) -> str:
        if self._aead is None:
            return _PLAIN + secret
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, secret.encode(), _AAD)
        return _SEALED + base64.b64encode(blob).decode()

    def open(self, sealed: str) -> str:
        if sealed.startswith(_PLAIN):
            return sealed[len(_PLAIN) :]
        if sealed.startswith(_SEALED):
            if self._aead is None:
                raise ValueError("a sealed webhook secret needs the webhook secret key")
            blob = base64.b64decode(sealed[len(_SEALED) :])
            return self._aead.decrypt(blob[:12], blob[12:], _AAD).decode()
        raise ValueError("unknown webhook secret format")


def sign(secrets: list[str], webhook_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header: one `v1,<sig>` per secret, space-separated."""
    return " ".join(Webhook(s).sign(webhook_id, timestamp, body) for s in secrets)
