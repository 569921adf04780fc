"""Access tokens: JWTs (RFC 9068 profile) signed with Ed25519 (EdDSA) or P-256 (ES256).

Claims: iss, aud, sub (= client_id), client_id, actor_kind, actor_id, wilayah, scope
(space-separated), iat, nbf, exp, jti. Header: typ "at+jwt", kid = RFC 7638 JWK thumbprint of
the signing key, so issuer and verifiers agree on key ids without configuring them.

The actor kind travels in `actor_kind`, not `act`: RFC 8693 registers `act` as a JSON object
naming a delegated actor, and a standard library reading ours would misread a string there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from pydantic import ValidationError

from umkm_shared.auth.actor import Actor
from umkm_shared.errors import Forbidden, Unauthorized
from umkm_shared.ids import new_id
from umkm_shared.settings import ServiceSettings

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
TOKEN_TYPE = "at+jwt"
REALM = "umkm"

# ---------------------------------------------------------------------------------------------
# Errors with RFC 6750 challenges
# ---------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass
class AuthenticationFailed(Unauthorized):
    """401 with `WWW-Authenticate: Bearer ...`; `error` None when no token was sent."""

    error: str | None = "invalid_token"

    @property
    def headers(self) -> dict[str, str]:
        challenge = f'Bearer realm="{REALM}"'
        if self.error:
            challenge += f', error="{self.error}", error_description="{_quote(self.detail)}"'
        return {"WWW-Authenticate": challenge}


@dataclass
class InsufficientPermission(Forbidden):
    """403; with `scope` set, a Bearer `insufficient_scope` challenge names it."""

    scope: str | None = None

    @property
    def headers(self) -> dict[str, str] | None:
        if not self.scope:
            return None
        return {
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", '
            f'scope="{_quote(self.scope)}"'
        }


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def algorithm_for(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise ValueError("only the P-256 curve (ES256) is accepted for EC keys")
        return "ES256"
    raise ValueError(f"unsupported key type {type(key).__name__}: use Ed25519 or EC P-256")


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return key.public_key()
    return key


def _jwk(key: PublicKey) -> dict[str, Any]:
    algorithm_for(key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return OKPAlgorithm.to_jwk(key, as_dict=True)
    return ECAlgorithm.to_jwk(key, as_dict=True)


def public_jwk(key: PublicKey, kid: str | None = None) -> dict[str, Any]:
    """The JWKS entry of a public key."""
    return _jwk(key) | {"kid": kid or key_id(key), "alg": algorithm_for(key), "use": "sig"}


def key_id(key: PrivateKey | PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
    jwk = _jwk(_public(key))
    members = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def load_private_key(pem: str | bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, None)
    algorithm_for(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def load_public_keys(pems: str | bytes) -> list[PublicKey]:
    """All public keys in a text holding one or more PEM blocks."""
    text = pems.decode() if isinstance(pems, bytes) else pems
    keys: list[PublicKey] = []
    for block in text.split("-----BEGIN ")[1:]:
        key = serialization.load_pem_public_key(("-----BEGIN " + block).encode())
        algorithm_for(key)  # type: ignore[arg-type]
        keys.append(key)  # type: ignore[arg-type]
    return keys


def keys_from_jwks(jwks: str | Mapping[str, Any]) -> dict[str, PublicKey]:
    data = json.loads(jwks) if isinstance(jwks, str) else jwks
    out: dict[str, PublicKey] = {}
    for jwk in jwt.PyJWKSet.from_dict(dict(data)).keys:
        key: PublicKey = jwk.key
        out[jwk.key_id or key_id(key)] = key
    return out


def generate_private_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# ---------------------------------------------------------------------------------------------
# Issue and verify
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


class TokenIssuer:
    def __init__(
        self,
        private_key: PrivateKey | str | bytes,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int = 900,
    ) -> None:
        self.private_key = (
            load_private_key(private_key) if isinstance(private_key, str | bytes) else private_key
        )
        self.algorithm = algorithm_for(self.private_key)
        self.kid = key_id(self.private_key)
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def issue(
        self, actor: Actor, *, now: float | None = None, ttl_seconds: int | None = None
    ) -> IssuedToken:
        iat = int(now if now is not None else time.time())
        ttl = ttl_seconds if ttl_seconds is not None else self.ttl_seconds
        scope = " ".join(sorted(actor.scopes))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": actor.client_id,
            "client_id": actor.client_id,
            "actor_kind": str(actor.kind),
            "scope": scope,
            "iat": iat,
            "nbf": iat,
            "exp": iat + ttl,
            "jti": str(new_id()),
        }
        if actor.actor_id:
            claims["actor_id"] = actor.actor_id
        if actor.wilayah:
            claims["wilayah"] = actor.wilayah
        token = jwt.encode(
            claims,
            self.private_key,
            algorithm=self.algorithm,
            headers={"kid": self.kid, "typ": TOKEN_TYPE},
        )
        return IssuedToken(token, ttl, scope)


_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "jti", "actor_kind"]


class TokenVerifier:
    """Verifies access tokens against public keys by key id (keep old keys listed during
    rotation) and returns the `Actor`. Every failure is an `AuthenticationFailed` (401)."""

    def __init__(
        self,
        public_keys: Mapping[str, PublicKey] | Iterable[PublicKey],
        *,
        issuer: str,
        audience: str | Iterable[str],
        leeway_seconds: int = 30,
    ) -> None:
        keys = (
            dict(public_keys)
            if isinstance(public_keys, Mapping)
            else {key_id(k): k for k in public_keys}
        )
        if not keys:
            raise ValueError("TokenVerifier needs at least one public key")
        self.keys: dict[str, tuple[PublicKey, str]] = {
            k: (v, algorithm_for(v)) for k, v in keys.items()
        }
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.leeway = leeway_seconds

    def verify(self, token: str) -> Actor:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise AuthenticationFailed(detail="The access token is malformed.") from e
        if header.get("typ", "").lower() not in (TOKEN_TYPE, "application/" + TOKEN_TYPE):
            raise AuthenticationFailed(detail="The token is not an access token (typ at+jwt).")
        kid = header.get("kid")
        entry = (
            self.keys.get(kid)
            if kid
            else (next(iter(self.keys.values())) if len(self.keys) == 1 else None)
        )
        if entry is None:
            raise AuthenticationFailed(detail="The token was signed with an unknown key.")
        key, alg = entry
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as e:
            raise AuthenticationFailed(detail="The access token has expired.") from e
        except jwt.InvalidAudienceError as e:
            raise AuthenticationFailed(
                detail="The access token is not meant for this audience."
            ) from e
        except jwt.InvalidIssuerError as e:
            raise AuthenticationFailed(detail="The access token has an unknown issuer.") from e
        except jwt.InvalidSignatureError as e:
            raise AuthenticationFailed(detail="The access token signature is invalid.") from e
        except jwt.MissingRequiredClaimError as e:
            raise AuthenticationFailed(
                detail=f"The access token lacks the '{e.claim}' claim."
            ) from e
        except jwt.InvalidTokenError as e:
            raise AuthenticationFailed(detail=f"The access token is invalid: {e}.") from e
        try:
            return Actor(
                kind=claims["actor_kind"],
                client_id=claims["sub"],
                actor_id=claims.get("actor_id"),
                wilayah=claims.get("wilayah"),
                scopes=frozenset(str(claims.get("scope", "")).split()),
            )
        except ValidationError as e:
            raise AuthenticationFailed(detail="The access token names an invalid actor.") from e


# ---------------------------------------------------------------------------------------------
# From settings
# ---------------------------------------------------------------------------------------------


def _settings_private_key(settings: ServiceSettings) -> PrivateKey | None:
    if settings.jwt_private_key is not None:
        return load_private_key(settings.jwt_private_key.get_secret_value())
    if settings.jwt_private_key_path is not None:
        return load_private_key(Path(settings.jwt_private_key_path).read_bytes())
    return None


def issuer_from_settings(settings: ServiceSettings) -> TokenIssuer | None:
    key = _settings_private_key(settings)
    if key is None:
        return None
    return TokenIssuer(
        key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


def verifier_from_settings(settings: ServiceSettings) -> TokenVerifier | None:
    """Keys from `jwt_public_keys` (PEM text), `jwt_public_key_path`, `jwt_jwks_path`; with
    none of them, the public half of the signing key (a service verifying its own tokens)."""
    keys: dict[str, PublicKey] = {}
    if settings.jwt_public_keys:
        keys.update({key_id(k): k for k in load_public_keys(settings.jwt_public_keys)})
    if settings.jwt_public_key_path:
        keys.update(
            {key_id(k): k for k in load_public_keys(Path(settings.jwt_public_key_path).read_text())}
        )
    if settings.jwt_jwks_path:
        keys.update(keys_from_jwks(Path(settings.jwt_jwks_path).read_text()))
    if not keys and (private := _settings_private_key(settings)) is not None:
        keys[key_id(private)] = private.public_key()
    if not keys:
        return None
    return TokenVerifier(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
    )
