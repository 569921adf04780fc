"""The clustering service: sector clusters of 10,000-20,000 UMKM, their read model fed by the
registry's and supply-chain's events, formation runs, holdings and programmes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from umkm_shared.messaging.bus import EventBus
from umkm_shared.messaging.consumer import EventConsumer
from umkm_shared.runtime import ServiceRuntime, build_service

from . import endpoints
from .config import Settings
from .jobs import FormationWorker
from .live import LiveMaintenance
from .models import messaging_tables
from .readmodel import ReadModel

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """
Sector clusters of 10,000-20,000 UMKM for the whole country (klasterisasi), formed by a
vectorised job from a read model of the registry's events; holdings (operator, koperasi) and
programmes per cluster. The ministry sees everything and starts formation runs; a Dinas sees
the clusters that touch its wilayah. Errors are RFC 9457 `application/problem+json`.
"""


def build(settings: Settings, bus: EventBus | None = None) -> tuple[FastAPI, ServiceRuntime]:
    app, runtime = build_service(
        settings,
        title="UMKM Clustering",
        description=DESCRIPTION,
        tables=messaging_tables,
        routers=[endpoints.router],
        bus=bus,
    )
    live = LiveMaintenance(settings, runtime.outbox)
    read_model = ReadModel(live)
    consumer = EventConsumer(
        runtime.db,
        runtime.tables,
        runtime.bus,
        settings.consumer_group,
        settings.consumer_topics,
        read_model.handlers(),
    )
    runtime.consumers.append(consumer)
    worker = FormationWorker(runtime.db, runtime.outbox, settings)
    runtime.workers.append(worker)
    app.state.clustering = endpoints.ClusteringContext(runtime.db, runtime.outbox, settings, worker)
    app.state.clustering_consumer = consumer
    app.state.clustering_live = live
    return app, runtime


def create_app() -> FastAPI:
    return build(Settings())[0]
