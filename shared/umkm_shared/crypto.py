"""Personal data protection (UU PDP) for the UMKM owner's NIK: encrypted at rest, found by
a keyed hash, shown masked.

Ciphertext layout: version byte 0x01 | key-id length (1 byte) | key id (ASCII) | 12-byte nonce
| AES-256-GCM ciphertext+tag. The header is authenticated as associated data, so a blob cannot
be relabelled to another key. Rotation: add a new key, make it active; old keys keep decrypting
until a re-encryption job has rewritten the rows (`needs_rotation` finds them).

The lookup hash (HMAC-SHA256) is deterministic so equality search works; without the hash key
it cannot be recomputed from the small NIK space. Rotating the hash key means recomputing every
stored hash, so it is one key, kept separately from the encryption keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from umkm_shared.identifiers import mask_nik
from umkm_shared.settings import ServiceSettings

_VERSION = 1
_NONCE_BYTES = 12


class DecryptionError(ValueError):
    """The blob is malformed, was tampered with, or names a key we do not have."""


def _normalise(nik: str) -> str:
    value = "".join(nik.split())
    if not value:
        raise ValueError("empty NIK")
    return value


class NikVault:
    def __init__(self, encryption_keys: Mapping[str, bytes], active_key_id: str, hash_key: bytes):
        if active_key_id not in encryption_keys:
            raise ValueError(f"active key id {active_key_id!r} is not among the encryption keys")
        for kid, key in encryption_keys.items():
            if len(key) != 32:
                raise ValueError(f"NIK encryption key {kid!r} must be 32 bytes (AES-256)")
            if not kid or len(kid.encode("ascii")) > 255:
                raise ValueError("key ids must be 1-255 ASCII characters")
        if len(hash_key) < 32:
            raise ValueError("the NIK hash key must be at least 32 bytes")
        self._aead = {kid: AESGCM(key) for kid, key in encryption_keys.items()}
        self.active_key_id = active_key_id
        self._hash_key = hash_key

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> NikVault:
        if (
            not settings.nik_encryption_keys
            or not settings.nik_active_key_id
            or not settings.nik_hash_key
        ):
            raise ValueError(
                "NIK keys are not configured: set nik_encryption_keys, nik_active_key_id and "
                "nik_hash_key (python -m umkm_shared.auth.cli generate-nik-keys)"
            )
        keys = {
            kid: base64.b64decode(secret.get_secret_value())
            for kid, secret in settings.nik_encryption_keys.items()
        }
        hash_key = base64.b64decode(settings.nik_hash_key.get_secret_value())
        return cls(keys, settings.nik_active_key_id, hash_key)

    @staticmethod
    def generate_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def encrypt(self, nik: str) -> bytes:
        kid = self.active_key_id.encode("ascii")
        header = bytes([_VERSION, len(kid)]) + kid
        nonce = os.urandom(_NONCE_BYTES)
        return (
            header
            + nonce
            + self._aead[self.active_key_id].encrypt(nonce, _normalise(nik).encode(), header)
        )

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        if len(blob) < 2 or blob[0] != _VERSION:
            raise DecryptionError("unknown ciphertext format")
        n = blob[1]
        if len(blob) < 2 + n + _NONCE_BYTES + 16:
            raise DecryptionError("ciphertext too short")
        try:
            return blob[2 : 2 + n].decode("ascii")
        except UnicodeDecodeError as e:
            raise DecryptionError("unknown ciphertext format") from e

    def decrypt(self, blob: bytes) -> str:
        kid = self.key_id_of(blob)
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"no key {kid!r} to decrypt this value")
        start = 2 + len(kid)
        header, nonce, body = (
            blob[:start],
            blob[start : start + _NONCE_BYTES],
            blob[start + _NONCE_BYTES :],
        )
        try:
            return aead.decrypt(nonce, body, header).decode()
        except InvalidTag as e:
            raise DecryptionError("ciphertext failed authentication (tampered or wrong key)") from e

    def needs_rotation(self, blob: bytes) -> bool:
        return self.key_id_of(blob) != self.active_key_id

    def lookup_hash(self, nik: str) -> str:
        return hmac.new(self._hash_key, _normalise(nik).encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def mask(nik: str) -> str:
        """First 4 and last 2 digits shown ("3273**********01"); anything that is not a
        16-digit NIK is masked entirely (`umkm_shared.identifiers.mask_nik`)."""
        return mask_nik(nik)
