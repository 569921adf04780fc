"""Financing broker settings: `FINANCING_*` environment variables (see umkm_shared.settings)."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from umkm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FINANCING_", extra="ignore")

    service_name: str = "financing"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm_financing"

    consumer_group: str = Field(
        "financing", description="Kafka consumer group of the broker's read models and loop."
    )
    snap_timestamp_tolerance_seconds: int = Field(
        300, ge=1, le=3600, description="How far X-TIMESTAMP may be from the server clock."
    )
    signing_secret_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="AES-256-GCM keys (base64, 32 bytes) by key id that encrypt the banks' SNAP "
        "signing secrets at rest. Empty: the NIK encryption keys are used.",
    )
    signing_secret_active_key_id: str | None = Field(
        None, description="Key id for new secrets (default: nik_active_key_id)."
    )
    ageing_interval_seconds: float = Field(
        3600.0, ge=0, description="How often loans are aged (DPD -> kol); 0 turns the worker off."
    )
    webhook_delivery: bool = Field(True, description="Run the webhook delivery worker.")
