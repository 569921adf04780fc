"""Helpers of the messaging tests (test_messaging_bus.py, test_messaging_batch.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from umkm_shared.messaging.bus import BusMessage, EventBus
from umkm_shared.messaging.kafka import KafkaBus

FAST = {"initial_backoff": 0.01, "max_backoff": 0.05}


async def wait_until(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def unique(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:10]}"


async def new_topic(bus: EventBus, prefix: str, partitions: int = 3) -> str:
    topic = unique(prefix)
    if isinstance(bus, KafkaBus):
        await bus.ensure_topics([topic], partitions=partitions)
    return topic


def msg(topic: str, key: str, value: str) -> BusMessage:
    return BusMessage(topic=topic, key=key.encode(), value=value.encode(), headers=[("h", b"1")])
