"""Clustering settings: `CLUSTERING_*` environment variables (see umkm_shared.settings)."""

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from umkm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLUSTERING_", extra="ignore")

    service_name: str = "clustering"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm_clustering"

    # --- formation ---------------------------------------------------------------------------
    min_cluster_size: int = Field(10_000, ge=1, description="Fewest members of an active cluster")
    max_cluster_size: int = Field(20_000, ge=1, description="Most members of a cluster")
    target_cluster_size: int | None = Field(
        None, description="Size a fresh cut aims for (default: midway between min and max)"
    )
    formation_interval_hours: float = Field(
        0, ge=0, description="Run formation on a schedule every N hours (0: off)"
    )
    formation_poll_seconds: float = Field(
        2.0, gt=0, description="How often the formation worker looks for queued runs"
    )
    live_assignment: bool = Field(
        True, description="Assign a new UMKM to the nearest cluster of its sector at once"
    )
    consumer_group: str = Field("clustering", description="Kafka consumer group of the read model")
    consumer_topics: list[str] | None = Field(
        None,
        description="Topics the read model follows (default: the registry's and supply-chain's)",
    )
    run_workers: bool = Field(True, description="Start the formation worker with the app")

    @model_validator(mode="after")
    def _bounds(self) -> "Settings":
        if self.max_cluster_size < 2 * self.min_cluster_size - 1:
            raise ValueError("max_cluster_size must be at least 2 * min_cluster_size - 1")
        return self
