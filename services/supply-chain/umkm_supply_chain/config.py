"""Supply chain settings: `SUPPLY_CHAIN_*` environment variables (see umkm_shared.settings)."""

from pydantic_settings import SettingsConfigDict

from umkm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPLY_CHAIN_", extra="ignore")

    service_name: str = "supply-chain"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm_supply_chain"
