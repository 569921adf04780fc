"""Registry settings: `REGISTRY_*` environment variables (see umkm_shared.settings)."""

from pydantic_settings import SettingsConfigDict

from umkm_shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    service_name: str = "registry"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm_registry"
