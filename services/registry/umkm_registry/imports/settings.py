"""Bulk-import settings: `REGISTRY_IMPORT_*` environment variables.

Kept beside the import module (not in RegistrySettings) so the feature is self-contained.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_spool() -> Path:
    return Path(tempfile.gettempdir()) / "umkm-registry-imports"


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_IMPORT_", extra="ignore")

    spool_dir: Path = Field(
        default_factory=_default_spool,
        description="Where uploads are kept until their job is done. Several replicas must "
        "share it (e.g. an RWX volume) to resume each other's jobs.",
    )
    max_file_bytes: int = Field(2 * 1024**3, ge=1, description="Largest accepted upload.")
    chunk_rows: int = Field(5_000, ge=1, description="Rows parsed and staged per transaction.")
    merge_rows: int = Field(
        20_000, ge=1, description="About how many businesses are merged per transaction."
    )
    parse_workers: int | None = Field(
        None,
        ge=0,
        description="Processes that parse and validate rows; 0 parses in a thread of the "
        "service process; unset: one per CPU beyond the first (which the service process and "
        "PostgreSQL need), at least 1, at most 4. Each takes about 200 MB.",
    )
    merge_connections: int | None = Field(
        None,
        ge=1,
        description="Merge batches run at once (each in its own transaction); unset: one per "
        "CPU, at most 4.",
    )
    dedup_hook: bool = Field(
        True,
        description="Queue duplicate candidates of new records (umkm_registry.dedup) in each "
        "merge batch; off for a first national load, then run the dedup job.",
    )
    worker_enabled: bool = Field(True, description="Run the import worker in this process.")
    poll_seconds: float = Field(2.0, gt=0, description="How often an idle worker looks for jobs.")
    strict_schema: bool = Field(
        False,
        description="Also validate every row with the API's UmkmCreate model (slower; the "
        "fast path is kept equivalent by tests).",
    )
    max_field_chars: int = Field(
        1_000_000, ge=1024, description="A CSV/NDJSON field longer than this fails the job."
    )

    def workers(self) -> int:
        if self.parse_workers is not None:
            return self.parse_workers
        return max(1, min(4, (os.cpu_count() or 1) - 1))

    def mergers(self) -> int:
        if self.merge_connections is not None:
            return self.merge_connections
        return max(1, min(4, os.cpu_count() or 1))
