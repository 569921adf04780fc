"""An in-process `EventBus` for the embedded mode and fast tests.

Same contract as Kafka, in memory: each topic is one append-only log (a single partition, so
delivery is in publish order, which is also in order per key); each (group, topic) has a committed
offset; a subscription delivers from the committed offset, commits after the handler returned, and
retries / dead-letters exactly like `KafkaBus` (both use `umkm_shared.messaging.bus.deliver`).
Two subscriptions of one group on one topic behave like two consumers of a one-partition topic:
the second waits as a standby until the first stops. With a batch handler, a subscription hands
over what is queued for it (up to `max_batch` messages) at once, through the same
`bus.deliver_batch` as Kafka, and commits the offset after the batch.

Memory and durability (the embedded mode runs a whole bulk import through this bus):
- `max_lag` (default None: no limit) makes `publish` wait until every running subscription of
  the topic is at most `max_lag` messages behind. With `max_lag=0` publish returns only after
  every running consumer group has committed the messages, so the outbox relay marks rows sent
  only once they are applied: a crash then loses nothing (unmarked rows are published again,
  the inbox drops the repeats). Otherwise messages in memory are lost with the process.
- `trim_consumed=True` drops log entries every group that ever subscribed has committed (offsets
  keep counting, so `offset` stays meaningful).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from umkm_shared.messaging.bus import (
    BatchHandler,
    BusMessage,
    Handler,
    RetryPolicy,
    deliver,
    deliver_batch,
)

__all__ = ["InProcessBus", "InProcessSubscription"]

log = logging.getLogger(__name__)


@dataclass
class _Log:
    base: int = 0  # offset of messages[0] (after trimming)
    messages: list[BusMessage] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.base + len(self.messages)


class InProcessSubscription:
    def __init__(
        self,
        bus: InProcessBus,
        group: str,
        topics: Sequence[str],
        handler: Handler,
        policy: RetryPolicy,
        *,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 500,
    ) -> None:
        self.bus = bus
        self.group = group
        self.topics = tuple(topics)
        self.handler = handler
        self.policy = policy
        self.batch_handler = batch_handler
        self.max_batch = max(1, max_batch)
        self._stopping = asyncio.Event()
        self._owned: set[str] = set()  # topics this member consumes (not standing by)
        self._tasks = {
            topic: asyncio.create_task(self._consume(topic), name=f"inprocess:{group}:{topic}")
            for topic in self.topics
        }

    async def _consume(self, topic: str) -> None:
        bus = self.bus
        async with bus._member_lock(self.group, topic):  # one active member per group/topic
            if self._stopping.is_set():
                return
            self._owned.add(topic)
            bus._active.add((self, topic))
            try:
                await self._consume_owned(topic)
            finally:
                self._owned.discard(topic)
                bus._active.discard((self, topic))
                async with bus._changed:
                    bus._changed.notify_all()

    async def _consume_owned(self, topic: str) -> None:
        bus = self.bus
        while not self._stopping.is_set():
            async with bus._changed:
                committed = bus.committed(self.group, topic)
                topic_log = bus._log(topic)
                position = max(committed, topic_log.base)
                if position >= topic_log.end:
                    await bus._changed.wait()
                    continue
                start = position - topic_log.base
                size = self.max_batch if self.batch_handler is not None else 1
                messages = topic_log.messages[start : start + size]
            if self.batch_handler is not None and len(messages) > 1:
                count = await deliver_batch(
                    messages,
                    self.handler,
                    self.batch_handler,
                    group=self.group,
                    policy=self.policy,
                    dead_letter=bus._append_one,
                    stopping=self._stopping,
                )
            else:
                finished = await deliver(
                    messages[0],
                    self.handler,
                    group=self.group,
                    policy=self.policy,
                    dead_letter=bus._append_one,
                    stopping=self._stopping,
                )
                count = 1 if finished else 0
            if count == 0:
                return
            async with bus._changed:
                bus._offsets[(self.group, topic)] = position + count
                bus._trim(topic)
                bus._changed.notify_all()

    def lag(self, topic: str) -> int:
        return self.bus._log(topic).end - self.bus.committed(self.group, topic)

    async def stop(self) -> None:
        self._stopping.set()
        async with self.bus._changed:
            self.bus._changed.notify_all()
        for topic, task in self._tasks.items():
            if topic not in self._owned:
                task.cancel()  # a standby waiting for the member lock
            # A handler in progress finishes (its transaction commits or rolls back) first.
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.bus._subscriptions.discard(self)


class InProcessBus:
    def __init__(self, *, max_lag: int | None = None, trim_consumed: bool = False) -> None:
        self.max_lag = max_lag
        self.trim_consumed = trim_consumed
        self._logs: dict[str, _Log] = {}
        self._offsets: dict[tuple[str, str], int] = {}
        self._groups: dict[str, set[str]] = {}  # topic -> groups that ever subscribed
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._changed = asyncio.Condition()
        self._subscriptions: set[InProcessSubscription] = set()
        self._active: set[tuple[InProcessSubscription, str]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.stop()

    async def ping(self) -> bool:
        return True

    async def publish(self, messages: Sequence[BusMessage]) -> None:
        topics = set()
        async with self._changed:
            for message in messages:
                self._append(message)
                topics.add(message.topic)
            self._changed.notify_all()
            if self.max_lag is not None:
                await self._changed.wait_for(lambda: self._within_lag(topics))

    async def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        handler: Handler,
        *,
        max_retries: int = 5,
        dead_letter: bool = True,
        initial_backoff: float = 0.1,
        max_backoff: float = 10.0,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 500,
    ) -> InProcessSubscription:
        for topic in topics:
            self._groups.setdefault(topic, set()).add(group)
        policy = RetryPolicy(max_retries, dead_letter, initial_backoff, max_backoff)
        subscription = InProcessSubscription(
            self, group, topics, handler, policy, batch_handler=batch_handler, max_batch=max_batch
        )
        self._subscriptions.add(subscription)
        return subscription

    # -- inspection (tests, embedded admin) ----------------------------------------------------

    def messages(self, topic: str) -> list[BusMessage]:
        """The retained messages of a topic, oldest first."""
        return list(self._log(topic).messages)

    def committed(self, group: str, topic: str) -> int:
        return self._offsets.get((group, topic), 0)

    def end_offset(self, topic: str) -> int:
        return self._log(topic).end

    # -- internals ----------------------------------------------------------------------------

    def _log(self, topic: str) -> _Log:
        return self._logs.setdefault(topic, _Log())

    def _append(self, message: BusMessage) -> None:
        topic_log = self._log(message.topic)
        topic_log.messages.append(
            replace(message, headers=list(message.headers), partition=0, offset=topic_log.end)
        )

    async def _append_one(self, message: BusMessage) -> None:
        """Dead-letter sink: append without waiting for consumers (no back-pressure loops)."""
        async with self._changed:
            self._append(message)
            self._changed.notify_all()

    def _member_lock(self, group: str, topic: str) -> asyncio.Lock:
        return self._locks.setdefault((group, topic), asyncio.Lock())

    def _within_lag(self, topics: set[str]) -> bool:
        # Every subscribed group, including one whose consuming task has not started yet
        # (subscribe() returns before it runs): its committed offset is the group's.
        assert self.max_lag is not None
        return all(
            sub.lag(topic) <= self.max_lag
            for sub in self._subscriptions
            for topic in sub.topics
            if topic in topics and not sub._stopping.is_set()
        )

    def _trim(self, topic: str) -> None:
        if not self.trim_consumed:
            return
        groups = self._groups.get(topic)
        if not groups:
            return
        low = min(self.committed(group, topic) for group in groups)
        topic_log = self._log(topic)
        drop = low - topic_log.base
        # Trim in chunks: deleting from the front of a list costs its length.
        if drop >= 1024 or (drop > 0 and low == topic_log.end):
            del topic_log.messages[:drop]
            topic_log.base = low
