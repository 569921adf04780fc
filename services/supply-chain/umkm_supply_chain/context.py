"""What the supply-chain endpoints need at hand, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from umkm_shared.db import Database
from umkm_shared.messaging.outbox import Outbox
from umkm_shared.webhooks import Webhooks

from .config import Settings
from .matching import IndexSync, SupplierIndex


@dataclass(frozen=True)
class SupplyChainContext:
    db: Database
    outbox: Outbox
    webhooks: Webhooks
    index: SupplierIndex
    index_sync: IndexSync
    settings: Settings
