"""Settings every service shares, read from the environment with pydantic-settings.

Each service subclasses `ServiceSettings` and sets its own env prefix:

    class RegistrySettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="REGISTRY_")
        service_name: str = "registry"

so `REGISTRY_DATABASE_URL`, `REGISTRY_JWT_PUBLIC_KEYS` ... configure the registry. Dict and list
fields are read as JSON (e.g. `REGISTRY_NIK_ENCRYPTION_KEYS='{"k1": "<base64>"}'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "prod"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ServiceSettings(BaseSettings):
    """Base settings; subclasses override `model_config` (env prefix) and defaults."""

    model_config = SettingsConfigDict(
        env_prefix="UMKM_", extra="ignore", env_file=None, validate_default=True
    )

    # --- identity and runtime -------------------------------------------------------------
    service_name: str = Field(
        "umkm", description="Name in logs, metrics and CloudEvents `source` (e.g. `registry`)."
    )
    environment: Environment = Field(
        "dev", description="`dev` (console logs, relaxed), `test`, or `prod` (strict checks)."
    )

    # --- infrastructure -------------------------------------------------------------------
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm",
        repr=False,  # may contain a password: kept out of reprs and logs
        description="The service's own PostgreSQL database (postgresql:// or +asyncpg URL).",
    )
    kafka_bootstrap_servers: str | None = Field(
        None,
        description="Comma-separated Kafka brokers; None means the in-process bus (embedded mode).",
    )
    kafka_topic_prefix: str = Field(
        "",
        pattern=r"^[a-zA-Z0-9._-]*$",
        description="Prepended to every Kafka topic and consumer group name, so several stacks "
        "can share one cluster (e.g. `staging.`). Empty in a dedicated cluster.",
    )

    # --- logging --------------------------------------------------------------------------
    log_level: LogLevel = Field("INFO", description="Minimum level for our and library logs.")
    log_json: bool | None = Field(
        None,
        description="JSON log lines (True) or readable console lines (False); "
        "unset: console in `dev`, JSON otherwise.",
    )

    # --- tracing (see umkm_shared.tracing) ----------------------------------------------
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="Where spans go: `none` (ids still propagate into logs and events), "
        "`console`, or `otlp` (OTLP/HTTP to `otel_endpoint`).",
    )
    otel_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces."
    )

    # --- HTTP -----------------------------------------------------------------------------
    max_request_body_bytes: int = Field(
        1_048_576,
        ge=0,
        description="Requests with a larger body get 413 (per-path overrides "
        "are passed to `create_service_app(body_limit_overrides=...)`).",
    )

    # --- auth: verifying access tokens (every service) ------------------------------------
    jwt_issuer: str = Field(
        "https://auth.umkm.go.id", description="`iss` claim issued and required in tokens."
    )
    jwt_audience: str = Field(
        "umkm-platform", description="`aud` claim issued and required in tokens."
    )
    jwt_public_keys: str | None = Field(
        None,
        description="Verification keys: one or more PEM public keys (Ed25519 or EC P-256) "
        "concatenated; key ids are their RFC 7638 thumbprints. Keep the previous key listed "
        "while rotating. With no verification key configured, the public half of "
        "`jwt_private_key` is used.",
    )
    jwt_public_key_path: Path | None = Field(
        None, description="A PEM public key file (key id derived from the key itself)."
    )
    jwt_jwks_path: Path | None = Field(
        None, description="A JWKS JSON file with the verification keys (alternative to PEMs)."
    )
    jwt_leeway_seconds: int = Field(30, ge=0, description="Clock skew tolerated on exp/iat/nbf.")

    # --- auth: issuing access tokens (only the service hosting the token endpoint) -------
    jwt_private_key: SecretStr | None = Field(
        None, description="PEM private key that signs access tokens (Ed25519 or EC P-256)."
    )
    jwt_private_key_path: Path | None = Field(
        None, description="A file holding that PEM private key (alternative to the value)."
    )
    access_token_ttl_seconds: int = Field(
        900, ge=60, le=86_400, description="Lifetime of issued access tokens (default 15 min)."
    )

    # --- personal data (UU PDP): the owner's NIK ----------------------------------------
    nik_encryption_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="AES-256-GCM keys by key id, each 32 bytes base64. Old keys stay listed "
        "so older ciphertexts still decrypt after rotation.",
    )
    nik_active_key_id: str | None = Field(
        None, description="Key id used to encrypt new values; must be in nik_encryption_keys."
    )
    nik_hash_key: SecretStr | None = Field(
        None, description="HMAC-SHA256 key (base64, >= 32 bytes) for the NIK lookup hash."
    )

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.environment != "dev"
