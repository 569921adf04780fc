"""NIK protection: AES-256-GCM with key rotation, keyed lookup hash, masking."""

from __future__ import annotations

import base64
import json

import pytest

from umkm_shared.crypto import DecryptionError, NikVault
from umkm_shared.settings import ServiceSettings

NIK = "3273012345678901"
K1, K2, H = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def test_round_trip_and_random_nonce() -> None:
    vault = NikVault({"k1": K1}, "k1", H)
    a, b = vault.encrypt(NIK), vault.encrypt(NIK)
    assert a != b  # a fresh nonce each time: equal NIKs do not look equal at rest
    assert NIK.encode() not in a
    assert vault.decrypt(a) == vault.decrypt(b) == NIK
    assert NikVault.key_id_of(a) == "k1"


def test_rotation_old_key_still_decrypts() -> None:
    old = NikVault({"k1": K1}, "k1", H)
    blob_k1 = old.encrypt(NIK)
    rotated = NikVault({"k1": K1, "k2": K2}, "k2", H)
    blob_k2 = rotated.encrypt(NIK)
    assert NikVault.key_id_of(blob_k2) == "k2"
    assert rotated.decrypt(blob_k1) == rotated.decrypt(blob_k2) == NIK
    assert rotated.needs_rotation(blob_k1) and not rotated.needs_rotation(blob_k2)
    with pytest.raises(DecryptionError, match="no key 'k2'"):
        old.decrypt(blob_k2)


def test_tampering_is_detected() -> None:
    vault = NikVault({"k1": K1, "k2": K2}, "k1", H)
    blob = bytearray(vault.encrypt(NIK))
    flipped = bytearray(blob)
    flipped[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        vault.decrypt(bytes(flipped))
    # Relabelling the blob to another key id fails too (the header is authenticated).
    relabelled = bytearray(blob)
    relabelled[3] = ord("2")
    with pytest.raises(DecryptionError):
        vault.decrypt(bytes(relabelled))
    for junk in (b"", b"\x09abc", bytes(blob[:10])):
        with pytest.raises(DecryptionError):
            vault.decrypt(junk)


def test_lookup_hash_is_keyed_and_deterministic() -> None:
    vault = NikVault({"k1": K1}, "k1", H)
    other = NikVault({"k1": K1}, "k1", b"\x04" * 32)
    assert vault.lookup_hash(NIK) == vault.lookup_hash(" 3273 0123 4567 8901 ")
    assert len(vault.lookup_hash(NIK)) == 64
    assert vault.lookup_hash(NIK) != other.lookup_hash(NIK)
    assert vault.lookup_hash(NIK) != vault.lookup_hash("3273012345678902")


def test_mask() -> None:
    assert NikVault.mask(NIK) == "3273**********01"
    assert "0123456789" not in NikVault.mask(NIK)


def test_bad_keys_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        NikVault({"k1": b"short"}, "k1", H)
    with pytest.raises(ValueError, match="active key"):
        NikVault({"k1": K1}, "k9", H)
    with pytest.raises(ValueError, match="hash key"):
        NikVault({"k1": K1}, "k1", b"x")


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    monkeypatch.setenv("UMKM_NIK_ENCRYPTION_KEYS", json.dumps({"k1": b64(K1), "k2": b64(K2)}))
    monkeypatch.setenv("UMKM_NIK_ACTIVE_KEY_ID", "k2")
    monkeypatch.setenv("UMKM_NIK_HASH_KEY", b64(H))
    settings = ServiceSettings()
    assert b64(K1) not in repr(settings)  # SecretStr hides the values
    vault = NikVault.from_settings(settings)
    assert NikVault.key_id_of(vault.encrypt(NIK)) == "k2"
    assert vault.lookup_hash(NIK) == NikVault({"k1": K1}, "k1", H).lookup_hash(NIK)
    monkeypatch.delenv("UMKM_NIK_HASH_KEY")
    with pytest.raises(ValueError, match="not configured"):
        NikVault.from_settings(ServiceSettings())
