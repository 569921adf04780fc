"""EventBus semantics on real Kafka and on the in-process bus: order, retries, dead letters,
offset commits, restarts and rebalances."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from messaging_support import FAST, msg, new_topic, unique, wait_until

from umkm_shared.messaging.bus import (
    BusMessage,
    EventBus,
    PermanentError,
    TransientError,
    dlq_topic,
    is_transient,
)
from umkm_shared.messaging.inprocess import InProcessBus
from umkm_shared.messaging.kafka import KafkaBus, ensure_topics, murmur2, partition_for


class Collector:
    def __init__(self, fail: Callable[[BusMessage, int], Exception | None] | None = None) -> None:
        self.seen: list[BusMessage] = []
        self.calls: Counter[bytes] = Counter()
        self.fail = fail

    async def __call__(self, message: BusMessage) -> None:
        self.calls[message.value] += 1
        if self.fail is not None and (exc := self.fail(message, self.calls[message.value])):
            raise exc
        self.seen.append(message)

    def values(self) -> list[str]:
        return [m.value.decode() for m in self.seen]


async def test_delivery_in_order_per_key_and_exactly_once_without_failures(bus: EventBus) -> None:
    topic = await new_topic(bus, "order")
    await bus.publish([msg(topic, f"k{i % 4}", f"{i % 4}:{i}") for i in range(60)])
    collector = Collector()
    sub = await bus.subscribe(unique("g"), [topic], collector)
    await wait_until(lambda: len(collector.seen) == 60)
    await sub.stop()
    per_key: dict[str, list[int]] = defaultdict(list)
    for value in collector.values():
        key, seq = value.split(":")
        per_key[key].append(int(seq))
    assert all(seqs == sorted(seqs) for seqs in per_key.values())
    assert sorted(int(v.split(":")[1]) for v in collector.values()) == list(range(60))
    received = collector.seen[0]
    assert received.topic == topic and received.partition is not None
    assert received.offset is not None and ("h", b"1") in received.headers
    if isinstance(bus, KafkaBus):  # same partition as aiokafka's (and Java's) partitioner
        assert all(m.partition == partition_for(m.key, [0, 1, 2]) for m in collector.seen)


async def test_failing_handler_is_retried_until_it_succeeds(bus: EventBus) -> None:
    topic = await new_topic(bus, "retry", partitions=1)
    await bus.publish([msg(topic, "a", "flaky"), msg(topic, "a", "after")])
    collector = Collector(
        lambda m, n: RuntimeError("not yet") if m.value == b"flaky" and n <= 3 else None
    )
    sub = await bus.subscribe(unique("g"), [topic], collector, max_retries=5, **FAST)
    await wait_until(lambda: len(collector.seen) == 2)
    await sub.stop()
    assert collector.values() == ["flaky", "after"]
    assert collector.calls[b"flaky"] == 4


async def test_poison_message_goes_to_dead_letter_topic_and_partition_moves_on(
    bus: EventBus,
) -> None:
    topic = await new_topic(bus, "dlq", partitions=1)
    group = unique("g")
    await bus.publish([msg(topic, "a", "ok1"), msg(topic, "a", "bad"), msg(topic, "a", "ok2")])
    collector = Collector(lambda m, n: RuntimeError("boom") if m.value == b"bad" else None)
    sub = await bus.subscribe(group, [topic], collector, max_retries=2, **FAST)
    await wait_until(lambda: collector.values() == ["ok1", "ok2"])
    await sub.stop()
    assert collector.calls[b"bad"] == 3  # first attempt + 2 retries

    dead = Collector()
    dlq_sub = await bus.subscribe(unique("dlq-reader"), [dlq_topic(topic)], dead)
    await wait_until(lambda: len(dead.seen) == 1)
    await dlq_sub.stop()
    letter = dead.seen[0]
    assert letter.value == b"bad" and letter.key == b"a"
    assert letter.header("dlq_error") == b"RuntimeError: boom"
    assert letter.header("dlq_original_topic") == topic.encode()
    assert letter.header("dlq_original_partition") == b"0"
    assert letter.header("dlq_original_offset") == b"1"
    assert letter.header("dlq_group") == group.encode()
    assert letter.header("dlq_attempts") == b"3"
    assert letter.header("h") == b"1"  # the original headers travel along

    # The offsets of all three were committed: a restart of the group sees nothing again.
    again = Collector()
    sub = await bus.subscribe(group, [topic], again)
    await bus.publish([msg(topic, "a", "ok3")])
    await wait_until(lambda: again.values() == ["ok3"])
    await sub.stop()


async def test_permanent_errors_skip_retries_and_transient_ones_never_dead_letter(
    bus: EventBus,
) -> None:
    topic = await new_topic(bus, "kinds", partitions=1)
    await bus.publish([msg(topic, "a", "permanent"), msg(topic, "a", "transient")])

    def fail(m: BusMessage, n: int) -> Exception | None:
        if m.value == b"permanent":
            return PermanentError("cannot parse")
        if m.value == b"transient" and n <= 4:
            return TransientError("database down")
        return None

    collector = Collector(fail)
    sub = await bus.subscribe(unique("g"), [topic], collector, max_retries=1, **FAST)
    await wait_until(lambda: collector.values() == ["transient"])
    await sub.stop()
    assert collector.calls[b"permanent"] == 1
    assert collector.calls[b"transient"] == 5  # beyond max_retries, but not dead-lettered
    dead = Collector()
    dlq_sub = await bus.subscribe(unique("dlq-reader"), [dlq_topic(topic)], dead)
    await wait_until(lambda: len(dead.seen) == 1)
    await asyncio.sleep(0.3)
    await dlq_sub.stop()
    assert dead.values() == ["permanent"]


async def test_restart_resumes_after_the_last_committed_offset(bus: EventBus) -> None:
    topic = await new_topic(bus, "restart")
    group = unique("g")
    await bus.publish([msg(topic, f"k{i}", f"first-{i}") for i in range(6)])
    first = Collector()
    sub = await bus.subscribe(group, [topic], first)
    await wait_until(lambda: len(first.seen) == 6)
    await sub.stop()

    await bus.publish([msg(topic, f"k{i}", f"second-{i}") for i in range(4)])
    second = Collector()
    sub = await bus.subscribe(group, [topic], second)
    await wait_until(lambda: len(second.seen) == 4)
    await asyncio.sleep(0.3)
    await sub.stop()
    assert sorted(second.values()) == [f"second-{i}" for i in range(4)]


async def test_stop_during_retries_commits_nothing_and_the_message_comes_back(
    bus: EventBus,
) -> None:
    topic = await new_topic(bus, "stop", partitions=1)
    group = unique("g")
    await bus.publish([msg(topic, "a", "hard")])
    failing = Collector(lambda m, n: RuntimeError("still failing"))
    sub = await bus.subscribe(group, [topic], failing, initial_backoff=5, max_backoff=5)
    await wait_until(lambda: failing.calls[b"hard"] >= 1)
    await sub.stop()  # interrupts the 5 s backoff; the offset must stay uncommitted
    healthy = Collector()
    sub = await bus.subscribe(group, [topic], healthy)
    await wait_until(lambda: healthy.values() == ["hard"])
    await sub.stop()


async def test_ping(bus: EventBus) -> None:
    assert await bus.ping() is True


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_murmur2_and_partitioning_match_aiokafka(key: bytes) -> None:
    from aiokafka.partitioner import DefaultPartitioner
    from aiokafka.partitioner import murmur2 as aiokafka_murmur2

    assert murmur2(key) == aiokafka_murmur2(key)
    for count in (1, 3, 7, 12):
        parts = list(range(count))
        assert partition_for(key, parts) == DefaultPartitioner()(key, parts, parts)


def test_transient_classification() -> None:
    import asyncpg
    from sqlalchemy.exc import DBAPIError, OperationalError

    assert is_transient(TransientError())
    assert is_transient(ConnectionRefusedError())
    assert is_transient(OperationalError("select 1", {}, Exception("server closed")))
    wrapped = DBAPIError("select 1", {}, Exception("x"))
    wrapped.__cause__ = asyncpg.SerializationError("could not serialize")
    assert is_transient(wrapped)
    assert not is_transient(RuntimeError("bug"))
    assert not is_transient(PermanentError("bad message"))
    assert not is_transient(FileNotFoundError("a bug, not an outage"))
    try:
        try:
            raise ConnectionError("db gone")
        except ConnectionError:
            raise ValueError("bug in the error path")  # implicit context only  # noqa: B904
    except ValueError as exc:
        assert not is_transient(exc)


# -- Kafka only ------------------------------------------------------------------------------


async def test_kafka_rebalance_loses_nothing_and_repeats_nothing(kafka_bootstrap: str) -> None:
    N = 150
    topic = unique("rebalance")
    group = unique("g")
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    bus = KafkaBus(
        kafka_bootstrap,
        "test-rebalance",
        max_poll_records=5,
        consumer_options={"heartbeat_interval_ms": 200},  # rejoin quickly
    )
    await bus.start()
    try:
        await bus.publish([msg(topic, f"k{i % 9}", str(i)) for i in range(N)])
        counts: Counter[bytes] = Counter()
        by_member: Counter[str] = Counter()

        def member(name: str) -> Callable[[BusMessage], Awaitable[None]]:
            async def slow(message: BusMessage) -> None:
                await asyncio.sleep(0.03)
                counts[message.value] += 1
                by_member[name] += 1

            return slow

        first = await bus.subscribe(group, [topic], member("first"))
        await wait_until(lambda: sum(counts.values()) >= 10)
        second = await bus.subscribe(group, [topic], member("second"))  # triggers a rebalance
        await wait_until(lambda: len(counts) == N, seconds=40)
        await asyncio.sleep(0.5)
        await first.stop()
        await second.stop()
        assert by_member["first"] > 0 and by_member["second"] > 0, by_member
        assert set(counts) == {str(i).encode() for i in range(N)}
        assert max(counts.values()) == 1, "a record was handled twice across the rebalance"
    finally:
        await bus.stop()


async def test_kafka_publish_fails_loudly_when_not_started(kafka_bootstrap: str) -> None:
    bus = KafkaBus(kafka_bootstrap, "test-unstarted")
    with pytest.raises(RuntimeError, match="start"):
        await bus.publish([msg("x", "k", "v")])
    assert await bus.ping() is False


async def test_kafka_topic_prefix_keeps_two_stacks_apart_on_one_cluster(
    kafka_bootstrap: str,
) -> None:
    topic, group = unique("shared"), unique("g")
    staging = KafkaBus(kafka_bootstrap, "staging", topic_prefix="staging.")
    dev = KafkaBus(kafka_bootstrap, "dev", topic_prefix="dev.")
    for bus in (staging, dev):
        await bus.start()
        await bus.ensure_topics([topic])
    try:
        got = {"staging": Collector(), "dev": Collector()}
        subs = [
            await staging.subscribe(group, [topic], got["staging"]),
            await dev.subscribe(group, [topic], got["dev"]),  # same group name, other stack
        ]
        await staging.publish([msg(topic, "k", "for-staging")])
        await dev.publish([msg(topic, "k", "for-dev")])
        await wait_until(lambda: got["staging"].seen != [] and got["dev"].seen != [])
        await asyncio.sleep(0.3)
        for sub in subs:
            await sub.stop()
        assert got["staging"].values() == ["for-staging"]
        assert got["dev"].values() == ["for-dev"]
        assert got["dev"].seen[0].topic == topic  # handlers see the unprefixed name
        admin_topics = await ensure_topics(kafka_bootstrap, [f"staging.{topic}"])
        assert admin_topics == []  # it exists on the broker under the prefixed name
    finally:
        await staging.stop()
        await dev.stop()


# -- in-process only -------------------------------------------------------------------------


async def test_inprocess_max_lag_zero_returns_only_after_consumers_committed() -> None:
    bus = InProcessBus(max_lag=0, trim_consumed=True)
    gate = asyncio.Event()
    done: list[str] = []

    async def gated(message: BusMessage) -> None:
        await gate.wait()
        done.append(message.value.decode())

    sub = await bus.subscribe("g", ["t"], gated)
    publishing = asyncio.create_task(bus.publish([msg("t", "k", "a"), msg("t", "k", "b")]))
    await asyncio.sleep(0.05)
    assert not publishing.done()  # the consumer has not applied them yet
    gate.set()
    await asyncio.wait_for(publishing, 5)
    assert done == ["a", "b"]
    assert bus.committed("g", "t") == 2 and bus.end_offset("t") == 2
    assert bus.messages("t") == []  # trimmed once every group committed
    await sub.stop()


async def test_inprocess_max_lag_zero_waits_for_a_subscription_that_has_not_started_yet() -> None:
    """subscribe() returns before the consuming task runs; a publish right after it (no await
    in between, as in a service's start-up) must still wait for that group."""
    bus = InProcessBus(max_lag=0)
    done: list[str] = []

    async def handler(message: BusMessage) -> None:
        done.append(message.value.decode())

    sub = await bus.subscribe("g", ["t"], handler)
    await asyncio.wait_for(bus.publish([msg("t", "k", "a")]), 5)
    assert done == ["a"] and bus.committed("g", "t") == 1
    await sub.stop()


async def test_inprocess_second_member_of_a_group_is_a_standby() -> None:
    bus = InProcessBus()
    a, b = Collector(), Collector()
    sub_a = await bus.subscribe("g", ["t"], a)
    sub_b = await bus.subscribe("g", ["t"], b)
    await bus.publish([msg("t", "k", "1"), msg("t", "k", "2")])
    await wait_until(lambda: len(a.seen) == 2)
    await sub_a.stop()
    await bus.publish([msg("t", "k", "3")])
    await wait_until(lambda: len(b.seen) == 1)
    assert a.values() == ["1", "2"] and b.values() == ["3"]
    await sub_b.stop()
    await bus.stop()


async def test_inprocess_stop_of_a_standby_returns() -> None:
    bus = InProcessBus()
    sub_a = await bus.subscribe("g", ["t"], Collector())
    sub_b = await bus.subscribe("g", ["t"], Collector())
    await asyncio.wait_for(sub_b.stop(), 2)
    await asyncio.wait_for(sub_a.stop(), 2)
