"""Supply chain settings: `SUPPLY_CHAIN_*` environment variables (see umkm_shared.settings).

Matching weights are configuration (`SUPPLY_CHAIN_MATCH_WEIGHT_*`); the defaults are documented in
docs/supply-chain.md. They are relative: the score divides by their sum.
"""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from umkm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPLY_CHAIN_", extra="ignore")

    service_name: str = "supply-chain"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/umkm_supply_chain"

    consumer_group: str = Field(
        "supply-chain", description="Kafka consumer group of the supplier read model."
    )

    # --- matching -------------------------------------------------------------------------
    match_weight_category: float = Field(0.30, ge=0, description="KBLI / keyword fit")
    match_weight_capacity: float = Field(0.20, ge=0, description="share of the quantity")
    match_weight_distance: float = Field(0.20, ge=0, description="closeness to the site")
    match_weight_certifications: float = Field(0.10, ge=0, description="preferred certs held")
    match_weight_performance: float = Field(0.15, ge=0, description="on-time and acceptance")
    match_weight_cluster: float = Field(0.05, ge=0, description="cluster / koperasi member")
    match_default_max_distance_km: float = Field(
        500.0, gt=0, description="Distance scale (and limit) when a request names none."
    )
    match_candidate_limit: int = Field(20, ge=1, le=200, description="Candidates returned.")
    match_bundle_limit: int = Field(5, ge=1, le=50, description="Bundles returned.")
    match_bundle_pool: int = Field(
        2000, ge=10, description="Candidates (by capacity and by distance) a bundle is built from."
    )
    index_sync_seconds: float = Field(
        1.0, gt=0, description="How often the in-memory supplier index polls for changes."
    )

    # --- webhooks -------------------------------------------------------------------------
    webhook_allow_private_targets: bool | None = Field(
        None,
        description="Allow loopback/private/link-local webhook URLs; unset: only in test.",
    )

    webhook_retry_delays: list[float] | None = Field(
        None,
        description="Seconds before each delivery attempt (JSON list); unset: the Standard "
        "Webhooks schedule 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (~27.6 h).",
    )
    webhook_poll_interval: float = Field(1.0, gt=0, description="Delivery worker poll (s).")
    webhook_disable_after_hours: float = Field(
        120.0, gt=0, description="Disable an endpoint failing continuously this long."
    )

    @property
    def allow_private_webhook_targets(self) -> bool:
        if self.webhook_allow_private_targets is not None:
            return self.webhook_allow_private_targets
        return self.environment == "test"

    def weights(self) -> dict[str, float]:
        return {
            "category": self.match_weight_category,
            "capacity": self.match_weight_capacity,
            "distance": self.match_weight_distance,
            "certifications": self.match_weight_certifications,
            "performance": self.match_weight_performance,
            "cluster": self.match_weight_cluster,
        }
