"""Clustering settings: `CLUSTERING_*` environment variables (see umkm_shared.settings)."""

from pydantic_settings import SettingsConfigDict

from umkm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLUSTERING_", extra="ignore")

    service_name: str = "clustering"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm_clustering"
