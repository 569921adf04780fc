"""Shared-package test fixtures (the root conftest.py gives PostgreSQL and Kafka)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from umkm_shared.messaging.bus import EventBus
from umkm_shared.messaging.inprocess import InProcessBus
from umkm_shared.messaging.kafka import KafkaBus


@pytest.fixture(params=["kafka", "inprocess"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    """Each bus test runs on real Kafka and on the in-process bus (one interface)."""
    if request.param == "kafka":
        kafka_bootstrap = request.getfixturevalue("kafka_bootstrap")
        made: EventBus = KafkaBus(kafka_bootstrap, f"test-{uuid.uuid4().hex[:6]}")
    else:
        made = InProcessBus()
    await made.start()
    yield made
    await made.stop()
