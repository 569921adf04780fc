"""What runs beside a service's HTTP app: its database, the event bus, the outbox relay and
its event consumers. The same object serves both ways of running:

- distributed: `python -m umkm_<svc> serve` builds one runtime with a Kafka bus and starts it
  from the app's lifespan;
- embedded: the composition root builds four runtimes over one in-process bus and starts them
  from its own lifespan (mounted sub-apps get no lifespan of their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import APIRouter, FastAPI

from umkm_shared.db import Database
from umkm_shared.messaging.bus import EventBus
from umkm_shared.messaging.consumer import EventConsumer
from umkm_shared.messaging.outbox import Outbox
from umkm_shared.messaging.relay import OutboxRelay
from umkm_shared.messaging.tables import MessagingTables
from umkm_shared.settings import ServiceSettings


def make_bus(settings: ServiceSettings) -> EventBus:
    """Kafka when brokers are configured, else the in-process bus."""
    if settings.kafka_bootstrap_servers:
        from umkm_shared.messaging.kafka import KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap_servers,
            client_id=settings.service_name,
            topic_prefix=settings.kafka_topic_prefix,
        )
    from umkm_shared.messaging.inprocess import InProcessBus

    return InProcessBus(max_lag=0)  # publish returns once consumers committed: see InProcessBus


class BackgroundWorker(Protocol):
    """Something the runtime starts after its consumers and stops before them (e.g. the
    registry's import worker)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    db: Database
    bus: EventBus
    tables: MessagingTables
    owns_bus: bool = True  # False in embedded mode: the composition root starts the shared bus
    consumers: list[EventConsumer] = field(default_factory=list)
    workers: list[BackgroundWorker] = field(default_factory=list)
    relay_enabled: bool = True
    outbox: Outbox = field(init=False)
    relay: OutboxRelay = field(init=False)

    def __post_init__(self) -> None:
        source = f"/{self.settings.service_name}"
        self.outbox = Outbox(self.tables, source=source)
        self.relay = OutboxRelay(self.db, self.tables, self.bus, source=source)

    @property
    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        return {"database": self.db.ping, "bus": self.bus.ping}

    async def start(self) -> None:
        if self.owns_bus:
            await self.bus.start()
        if self.relay_enabled:
            await self.relay.start()
        for consumer in self.consumers:
            await consumer.start()
        for worker in self.workers:
            await worker.start()

    async def stop(self) -> None:
        for worker in reversed(self.workers):
            await worker.stop()
        for consumer in reversed(self.consumers):
            await consumer.stop()
        await self.relay.stop()
        if self.owns_bus:
            await self.bus.stop()
        await self.db.dispose()


def build_service(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    tables: MessagingTables,
    routers: Sequence[APIRouter] = (),
    bus: EventBus | None = None,
    body_limit_overrides: Mapping[str, int] | None = None,
) -> tuple[FastAPI, ServiceRuntime]:
    """A service's app and runtime. Pass `bus` to share one (embedded mode: the caller starts
    it); without one the runtime makes its own from settings and starts it with the app.
    `body_limit_overrides`: path prefix -> max request body bytes (e.g. a file upload route)."""
    from umkm_shared.web import create_service_app

    runtime = ServiceRuntime(
        settings=settings,
        db=Database(settings.database_url),
        bus=bus or make_bus(settings),
        tables=tables,
        owns_bus=bus is None,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = create_service_app(
        title=title,
        description=description,
        settings=settings,
        routers=routers,
        lifespan=lifespan,
        readiness_checks=runtime.readiness_checks,
        body_limit_overrides=body_limit_overrides,
    )
    app.state.runtime = runtime
    return app, runtime
