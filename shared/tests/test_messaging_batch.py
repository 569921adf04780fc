"""Batch delivery (`subscribe(..., batch_handler=...)`) on real Kafka and on the in-process bus:
batches are consecutive messages of one partition in order, a failing batch falls back to the
per-message path (retries, dead letters) without holding up the rest, and offsets, restarts and
rebalances behave as without batches. The inbox consumer's batches: test_messaging_outbox.py."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence

import pytest
from messaging_support import FAST, msg, new_topic, unique, wait_until

from umkm_shared.messaging.bus import BatchError, BusMessage, EventBus, dlq_topic
from umkm_shared.messaging.inprocess import InProcessBus
from umkm_shared.messaging.kafka import KafkaBus, ensure_topics


class Store:
    """A stand-in for a database: a batch's effects become visible only if it returns
    (all or nothing), and single messages are applied one by one."""

    def __init__(self, bad: set[str] | None = None, index_errors: bool = True) -> None:
        self.applied: list[BusMessage] = []
        self.batches: list[list[BusMessage]] = []  # committed batches
        self.singles: list[str] = []  # values applied through the per-message handler
        self.calls: Counter[str] = Counter()
        self.bad = bad or set()
        self.index_errors = index_errors

    async def one(self, message: BusMessage) -> None:
        value = message.value.decode()
        self.calls[value] += 1
        if value in self.bad:
            raise ValueError(f"bad {value}")
        self.applied.append(message)
        self.singles.append(value)

    async def many(self, messages: Sequence[BusMessage]) -> None:
        for index, message in enumerate(messages):
            value = message.value.decode()
            self.calls[value] += 1
            if value in self.bad:
                error = ValueError(f"bad {value}")
                if self.index_errors:
                    raise BatchError(index, error)
                raise error
        await asyncio.sleep(0)  # the "commit"
        self.applied.extend(messages)
        self.batches.append(list(messages))

    def values(self) -> list[str]:
        return [m.value.decode() for m in self.applied]


def per_key_in_order(store: Store) -> bool:
    per_key: dict[str, list[int]] = defaultdict(list)
    for value in store.values():
        key, seq = value.split(":")
        per_key[key].append(int(seq))
    return all(seqs == sorted(seqs) for seqs in per_key.values())


async def test_batches_are_consecutive_messages_of_one_partition_in_order(bus: EventBus) -> None:
    topic = await new_topic(bus, "batch-order")
    n = 400
    await bus.publish([msg(topic, f"k{i % 7}", f"{i % 7}:{i}") for i in range(n)])
    store = Store()
    sub = await bus.subscribe(
        unique("g"), [topic], store.one, batch_handler=store.many, max_batch=50
    )
    await wait_until(lambda: len(store.applied) == n)
    await asyncio.sleep(0.2)
    await sub.stop()
    assert sorted(int(v.split(":")[1]) for v in store.values()) == list(range(n))  # once each
    assert per_key_in_order(store)
    assert store.batches and max(len(b) for b in store.batches) > 1  # batches were used
    assert all(len(b) <= 50 for b in store.batches)
    for batch in store.batches:
        assert len({m.partition for m in batch}) == 1
        offsets = [m.offset or 0 for m in batch]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)


@pytest.mark.parametrize("index_errors", [True, False], ids=["BatchError", "plain-error"])
async def test_a_poison_message_is_dead_lettered_and_the_rest_of_its_batch_applied_once(
    bus: EventBus, index_errors: bool
) -> None:
    topic = await new_topic(bus, "batch-poison", partitions=1)
    values = [f"k:{i}" for i in range(120)]
    await bus.publish([msg(topic, "k", v) for v in values])
    store = Store(bad={"k:37", "k:90"}, index_errors=index_errors)
    group = unique("g")
    sub = await bus.subscribe(
        group, [topic], store.one, batch_handler=store.many, max_batch=60, max_retries=2, **FAST
    )
    dead: list[BusMessage] = []

    async def collect(message: BusMessage) -> None:
        dead.append(message)

    dlq_sub = await bus.subscribe(unique("dlq"), [dlq_topic(topic)], collect)
    try:
        await wait_until(lambda: len(store.applied) == 118 and len(dead) == 2)
        await asyncio.sleep(0.2)
    finally:
        await sub.stop()
        await dlq_sub.stop()
    assert store.values() == [v for v in values if v not in store.bad]  # in order, once each
    assert [m.value for m in dead] == [b"k:37", b"k:90"]
    assert all(m.header("dlq_attempts") == b"3" for m in dead)  # max_retries=2, then dead
    assert dead[0].header("dlq_group") == group.encode()
    if index_errors:
        # Only the poison message took the per-message path; its neighbours stayed batched.
        assert store.singles == []
        assert max(len(b) for b in store.batches) > 1


async def test_batch_offsets_are_committed_and_a_restart_repeats_nothing(bus: EventBus) -> None:
    topic = await new_topic(bus, "batch-restart")
    group = unique("g")
    await bus.publish([msg(topic, f"k{i % 5}", f"{i % 5}:{i}") for i in range(200)])
    first = Store()
    sub = await bus.subscribe(group, [topic], first.one, batch_handler=first.many)
    await wait_until(lambda: len(first.applied) == 200)
    await sub.stop()

    await bus.publish([msg(topic, f"k{i % 5}", f"{i % 5}:{i}") for i in range(200, 260)])
    second = Store()
    sub = await bus.subscribe(group, [topic], second.one, batch_handler=second.many)
    await wait_until(lambda: len(second.applied) == 60)
    await asyncio.sleep(0.3)
    await sub.stop()
    assert sorted(int(v.split(":")[1]) for v in second.values()) == list(range(200, 260))


async def test_in_process_batches_whatever_is_queued_and_commits_after_the_batch() -> None:
    bus = InProcessBus()
    release = asyncio.Event()
    seen: list[int] = []

    async def one(message: BusMessage) -> None:
        seen.append(1)

    async def many(messages: Sequence[BusMessage]) -> None:
        await release.wait()
        seen.append(len(messages))

    await bus.publish([msg("t", "k", str(i)) for i in range(10)])
    sub = await bus.subscribe("g", ["t"], one, batch_handler=many, max_batch=4)
    await asyncio.sleep(0.05)
    assert bus.committed("g", "t") == 0  # nothing committed while the batch is in hand
    release.set()
    await wait_until(lambda: bus.committed("g", "t") == 10)
    await sub.stop()
    assert seen == [4, 4, 2]


async def test_kafka_rebalance_with_batches_loses_nothing_and_repeats_nothing(
    kafka_bootstrap: str,
) -> None:
    n = 600
    topic = unique("batch-rebalance")
    group = unique("g")
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    bus = KafkaBus(
        kafka_bootstrap,
        "test-batch-rebalance",
        max_poll_records=40,
        consumer_options={"heartbeat_interval_ms": 200},  # rejoin quickly
    )
    await bus.start()
    try:
        await bus.publish([msg(topic, f"k{i % 9}", str(i)) for i in range(n)])
        counts: Counter[bytes] = Counter()
        by_member: Counter[str] = Counter()

        def member(
            name: str,
        ) -> tuple[
            Callable[[BusMessage], Awaitable[None]],
            Callable[[Sequence[BusMessage]], Awaitable[None]],
        ]:
            async def one(message: BusMessage) -> None:
                await asyncio.sleep(0.01)
                counts[message.value] += 1
                by_member[name] += 1

            async def many(messages: Sequence[BusMessage]) -> None:
                await asyncio.sleep(0.1)  # a slow transaction; effects land at its end
                for message in messages:
                    counts[message.value] += 1
                by_member[name] += len(messages)

            return one, many

        one, many = member("first")
        first = await bus.subscribe(group, [topic], one, batch_handler=many, max_batch=10)
        await wait_until(lambda: sum(counts.values()) >= 50)
        one, many = member("second")
        second = await bus.subscribe(group, [topic], one, batch_handler=many, max_batch=10)
        await wait_until(lambda: len(counts) == n, seconds=60)
        await asyncio.sleep(0.5)
        await first.stop()
        await second.stop()
        assert by_member["first"] > 0 and by_member["second"] > 0, by_member
        assert set(counts) == {str(i).encode() for i in range(n)}
        assert max(counts.values()) == 1, "a record was handled twice across the rebalance"
    finally:
        await bus.stop()
