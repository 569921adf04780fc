"""Inspect and replay a dead-letter topic (`<topic>.dlq`), once the cause is fixed.

    python -m umkm_shared.messaging.dlq list   --bootstrap HOST:PORT --topic umkm.registry.v1
    python -m umkm_shared.messaging.dlq replay --bootstrap HOST:PORT --topic umkm.registry.v1 \
        [--group clustering] [--limit N] [--dry-run]

`replay` republishes each dead letter to its original topic with its original key, value and
CloudEvents headers (the `dlq_*` headers are dropped). Every consumer group then sees the event
again: the group that failed applies it now, groups that had applied it already skip it in their
inbox (same `ce_id`), so a replay never applies an event twice. `--group` replays only the letters
that group dead-lettered.

Progress is kept as the offsets of the consumer group `dlq-replay.<topic>[.<group>]` on the
dead-letter topic, committed after the republished batch is acknowledged (acks=all): running the
same `replay` twice does not republish a letter twice, and a replay cut short continues where it
stopped. (A letter replayed both by a `--group` replay and a replay of all is published twice;
the consumers' inbox still applies it once.)
`list` reads without committing anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from umkm_shared.messaging.bus import dlq_topic

__all__ = ["DeadLetter", "list_dead_letters", "replay_dead_letters"]


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "ce_id": self.header("ce_id"),
            "ce_type": self.header("ce_type"),
            "group": self.header("dlq_group"),
            "error": self.header("dlq_error"),
            "failed_at": self.header("dlq_failed_at"),
            "original": f"{self.header('dlq_original_topic')}"
            f"[{self.header('dlq_original_partition')}]@{self.header('dlq_original_offset')}",
        }


def replay_group(topic: str, group: str | None = None) -> str:
    """The consumer group keeping a replay's progress: one per (topic, failed group)."""
    return f"dlq-replay.{topic}" + (f".{group}" if group else "")


async def _read(consumer: AIOKafkaConsumer, limit: int | None) -> list[DeadLetter]:
    """Everything up to the end offsets seen at the start (a stable snapshot)."""
    partitions = consumer.assignment()
    end = await consumer.end_offsets(list(partitions))
    letters: list[DeadLetter] = []
    remaining = {tp for tp in partitions if await consumer.position(tp) < end[tp]}
    while remaining and (limit is None or len(letters) < limit):
        batches = await consumer.getmany(timeout_ms=1000)
        for tp, records in batches.items():
            for record in records:
                if record.offset >= end[tp] or (limit is not None and len(letters) >= limit):
                    break
                letters.append(
                    DeadLetter(
                        record.partition,
                        record.offset,
                        record.key,
                        record.value or b"",
                        list(record.headers or ()),
                    )
                )
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
        if not batches and all([await consumer.position(tp) >= end[tp] for tp in remaining]):
            break
    return letters


async def _consumer(bootstrap: str, topic: str, group: str | None) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    partitions = consumer.partitions_for_topic(dlq_topic(topic))
    if partitions is None:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(dlq_topic(topic)) or set()
    consumer.assign([TopicPartition(dlq_topic(topic), p) for p in sorted(partitions)])
    if group is None:
        await consumer.seek_to_beginning()
    return consumer


async def list_dead_letters(
    bootstrap: str, topic: str, limit: int | None = None
) -> list[DeadLetter]:
    """The dead letters of `topic`, oldest first per partition (reads, commits nothing)."""
    consumer = await _consumer(bootstrap, topic, None)
    try:
        return await _read(consumer, limit)
    finally:
        await consumer.stop()


async def replay_dead_letters(
    bootstrap: str,
    topic: str,
    *,
    group: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> list[DeadLetter]:
    """Republish dead letters not replayed before (optionally only `group`'s); returns them."""
    consumer = await _consumer(bootstrap, topic, replay_group(topic, group))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        letters = await _read(consumer, limit)
        chosen = [x for x in letters if group is None or x.header("dlq_group") == group]
        if dry_run:
            return chosen
        sends = [
            await producer.send(
                letter.header("dlq_original_topic") or topic,
                key=letter.key,
                value=letter.value,
                headers=[(k, v) for k, v in letter.headers if not k.startswith("dlq_")],
            )
            for letter in chosen
        ]
        await asyncio.gather(*sends)  # every send acknowledged before the progress commit
        ends: dict[TopicPartition, int] = {}
        for letter in letters:  # other groups' letters are skipped by this group's replay
            tp = TopicPartition(dlq_topic(topic), letter.partition)
            ends[tp] = max(ends.get(tp, 0), letter.offset + 1)
        if ends:
            await consumer.commit(ends)
        return chosen
    finally:
        await producer.stop()
        await consumer.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m umkm_shared.messaging.dlq", description=__doc__
    )
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True, help="the original topic, e.g. umkm.registry.v1")
    parser.add_argument("--group", help="replay only letters this consumer group dead-lettered")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "list":
        letters = asyncio.run(list_dead_letters(args.bootstrap, args.topic, args.limit))
    else:
        letters = asyncio.run(
            replay_dead_letters(
                args.bootstrap, args.topic, group=args.group, limit=args.limit, dry_run=args.dry_run
            )
        )
    for letter in letters:
        sys.stdout.write(json.dumps(letter.summary()) + "\n")
    verb = "would replay" if args.dry_run else "replayed" if args.command == "replay" else "listed"
    sys.stderr.write(f"{verb} {len(letters)} dead letter(s) of {dlq_topic(args.topic)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
