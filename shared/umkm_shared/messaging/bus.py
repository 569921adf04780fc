"""The publish/subscribe interface both transports implement, and the delivery policy they share.

`EventBus.publish` returns only when every message is durably acknowledged. `subscribe` runs a
consumer task: a message's offset is committed only after its handler returned; a failing handler
is retried with exponential backoff and, after `max_retries`, the message goes to `<topic>.dlq`
(with `dlq_*` headers saying why and where from) and its offset is committed so the partition
moves on.

Two refinements of that rule, both so that a poison message and a broken dependency are told apart:
- *Transient* failures (database or broker unreachable, serialization failures, deadlocks, or a
  handler raising `TransientError`) do not count as attempts: they are retried with capped
  backoff until they succeed or the subscription stops. Otherwise a database outage would send
  the whole stream to the dead-letter topic.
- *Permanent* failures (`PermanentError`, e.g. a message that is not a CloudEvent or whose data
  does not validate) go to the dead-letter topic at once; retrying cannot help.
With `dead_letter=False` nothing is ever skipped: after `max_retries` the message keeps being
retried at the maximum backoff (the partition waits), for streams where order beats liveness.

Batches (optional): `subscribe(..., batch_handler=..., max_batch=N)` hands up to N consecutive
messages of one partition to `batch_handler` at once (`deliver_batch`). A batch handler is all or
nothing: it returns when the effects of every message are committed, or raises having committed
none of them. When it raises, the batch falls back to the per-message path (`deliver`: the same
retries and dead-lettering), so one bad message never holds up the others. If the exception is a
`BatchError` naming the failing message, only that message takes the per-message path: the ones
before it are applied again as one batch, the ones after it in the next. Offsets are committed
after the batch, exactly as after a single message.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "DLQ_HEADERS",
    "DLQ_SUFFIX",
    "BatchError",
    "BatchHandler",
    "BusMessage",
    "EventBus",
    "Handler",
    "PermanentError",
    "RetryPolicy",
    "Subscription",
    "TransientError",
    "deliver",
    "deliver_batch",
    "dlq_topic",
    "is_transient",
]

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"
DLQ_HEADERS = (
    "dlq_error",
    "dlq_original_topic",
    "dlq_original_partition",
    "dlq_original_offset",
    "dlq_group",
    "dlq_attempts",
    "dlq_failed_at",
)
MAX_ERROR_HEADER = 4000


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One message on the bus. `partition`/`offset` are set on received messages only."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None
    offset: int | None = None

    def header(self, name: str) -> bytes | None:
        """The last value of header `name` (case-sensitive), or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


Handler = Callable[[BusMessage], Awaitable[None]]
BatchHandler = Callable[[Sequence[BusMessage]], Awaitable[None]]


class TransientError(Exception):
    """Raise from a handler when the failure is about the environment, not the message:
    the message is retried until it succeeds and never dead-lettered."""


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help: the message is dead-lettered at once."""


class BatchError(Exception):
    """Raise from a batch handler (having committed nothing) when message `index` of the batch
    failed: the bus then applies the messages before it as a batch again, gives that one message
    the per-message treatment (retries, dead-lettering), and goes on with the rest."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(f"message {index} of the batch failed: {cause!r}")
        self.index = index
        self.cause = cause


@runtime_checkable
class Subscription(Protocol):
    group: str
    topics: tuple[str, ...]

    async def stop(self) -> None:
        """Finish the message (or batch) in hand (or abandon its retries), commit, and stop
        consuming."""


@runtime_checkable
class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop every subscription and release connections."""

    async def publish(self, messages: Sequence[BusMessage]) -> None:
        """Return when every message is durably acknowledged; raise otherwise."""

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
    ) -> Subscription:
        """Consume `topics` as `group`. With `batch_handler`, consecutive messages of one
        partition (up to `max_batch`) go to it at once; `handler` is the per-message fallback."""
        ...

    async def ping(self) -> bool:
        """True when the broker is reachable (for /readyz)."""


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc`, its explicit causes (`raise ... from`) and wrapped driver errors (`.orig`).

    Implicit context (`__context__`) is not followed: an error raised while handling a
    connection error is not itself transient.
    """
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop()
        if any(item is s for s in seen):
            continue
        seen.append(item)
        for nxt in (getattr(item, "orig", None), item.__cause__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def is_transient(exc: BaseException) -> bool:
    """Whether a handler failure is about the environment (retry without limit)."""
    import asyncpg
    from sqlalchemy import exc as sa_exc

    transient_types: tuple[type[BaseException], ...] = (
        TransientError,
        ConnectionError,
        TimeoutError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
        asyncpg.SerializationError,
        asyncpg.DeadlockDetectedError,
        sa_exc.OperationalError,
        sa_exc.TimeoutError,  # connection pool exhausted
    )
    for item in _exception_chain(exc):
        if isinstance(item, PermanentError):
            return False
        if isinstance(item, transient_types):
            return True
        if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
            return True
    return False


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    dead_letter: bool = True
    initial_backoff: float = 0.1
    max_backoff: float = 10.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (1-based), with ±20 % jitter."""
        base = min(self.max_backoff, self.initial_backoff * 2.0 ** max(0, attempt - 1))
        return float(base * random.uniform(0.8, 1.2))


DeadLetterSink = Callable[[BusMessage], Awaitable[None]]


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep; return True if `stopping` was set meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def dead_letter_message(
    message: BusMessage, group: str, error: BaseException, attempts: int
) -> BusMessage:
    text = f"{type(error).__name__}: {error}"[:MAX_ERROR_HEADER]
    headers = [(k, v) for k, v in message.headers if k not in DLQ_HEADERS]
    headers += [
        ("dlq_error", text.encode()),
        ("dlq_original_topic", message.topic.encode()),
        ("dlq_original_partition", str(message.partition).encode()),
        ("dlq_original_offset", str(message.offset).encode()),
        ("dlq_group", group.encode()),
        ("dlq_attempts", str(attempts).encode()),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    return BusMessage(
        topic=dlq_topic(message.topic), key=message.key, value=message.value, headers=headers
    )


async def deliver(
    message: BusMessage,
    handler: Handler,
    *,
    group: str,
    policy: RetryPolicy,
    dead_letter: DeadLetterSink,
    stopping: asyncio.Event,
) -> bool:
    """Run `handler` on `message` under `policy`.

    Returns True when the message is finished (handled, or dead-lettered) and its offset may be
    committed; False when `stopping` was set before that (the offset must not be committed).
    """
    from umkm_shared.messaging import metrics

    attempts = 0  # attempts that count against max_retries
    transient_streak = 0
    while True:
        try:
            await handler(message)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc):
                transient_streak += 1
                delay = policy.delay(transient_streak)
                log.warning(
                    "transient failure handling %s[%s]@%s for group %s (retry in %.1fs): %r",
                    message.topic, message.partition, message.offset, group, delay, exc,
                )  # fmt: skip
            else:
                transient_streak = 0
                attempts += 1
                permanent = isinstance(exc, PermanentError)
                if permanent or attempts > policy.max_retries:
                    if policy.dead_letter:
                        sent = await _dead_letter(
                            message, group, exc, attempts, dead_letter, policy, stopping
                        )
                        if sent:
                            metrics.DEAD_LETTERED.labels(group=group, topic=message.topic).inc()
                        return sent
                    delay = policy.max_backoff
                else:
                    delay = policy.delay(attempts)
                log.log(
                    logging.ERROR if attempts > policy.max_retries else logging.WARNING,
                    "handler failed on %s[%s]@%s for group %s (attempt %d, retry in %.1fs)",
                    message.topic, message.partition, message.offset, group, attempts, delay,
                    exc_info=exc,
                )  # fmt: skip
            metrics.HANDLER_RETRIES.labels(group=group, topic=message.topic).inc()
            if await _sleep_unless(stopping, delay):
                return False


async def _dead_letter(
    message: BusMessage,
    group: str,
    error: BaseException,
    attempts: int,
    sink: DeadLetterSink,
    policy: RetryPolicy,
    stopping: asyncio.Event,
) -> bool:
    dead = dead_letter_message(message, group, error, attempts)
    log.error(
        "dead-lettering %s[%s]@%s for group %s after %d attempt(s): %s",
        message.topic, message.partition, message.offset, group, attempts,
        dead.header("dlq_error"),
    )  # fmt: skip
    failures = 0
    while True:
        try:
            await sink(dead)
            return True
        except asyncio.CancelledError:
            raise
        except Exception:
            # The dead-letter topic is unreachable: never commit past an unsaved message.
            failures += 1
            log.exception("could not publish to %s; retrying", dead.topic)
            if await _sleep_unless(stopping, policy.delay(failures)):
                return False


async def deliver_batch(
    messages: Sequence[BusMessage],
    handler: Handler,
    batch_handler: BatchHandler,
    *,
    group: str,
    policy: RetryPolicy,
    dead_letter: DeadLetterSink,
    stopping: asyncio.Event,
    split: bool = True,
) -> int:
    """Run `batch_handler` on consecutive messages of one partition, falling back to `deliver`.

    Returns how many leading messages are finished (their offsets may be committed). Fewer
    than `len(messages)` means either `stopping` was set, or (with a `BatchError`) the batch was
    split: the caller goes on with the messages after the returned count. Never 0 unless
    `stopping` was set (or `messages` is empty).
    """
    from umkm_shared.messaging import metrics

    if not messages:
        return 0
    first = messages[0]
    try:
        await batch_handler(messages)
        return len(messages)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        metrics.BATCH_FALLBACKS.labels(group=group, topic=first.topic).inc()
        index = exc.index if isinstance(exc, BatchError) else None
        if split and index is not None and 0 <= index < len(messages):
            log.info(
                "batch of %d from %s[%s]@%s for group %s failed at message %d: %r",
                len(messages), first.topic, first.partition, first.offset, group, index,
                exc.cause if isinstance(exc, BatchError) else exc,
            )  # fmt: skip
            done = 0
            if index > 0:  # these were fine: once more as one batch (no further splitting)
                done = await deliver_batch(
                    messages[:index],
                    handler,
                    batch_handler,
                    group=group,
                    policy=policy,
                    dead_letter=dead_letter,
                    stopping=stopping,
                    split=False,
                )
                if done < index:
                    return done
            if stopping.is_set():
                return done
            finished = await deliver(
                messages[index],
                handler,
                group=group,
                policy=policy,
                dead_letter=dead_letter,
                stopping=stopping,
            )
            return index + 1 if finished else index
        log.warning(
            "batch of %d from %s[%s]@%s for group %s failed (%r); applying one by one",
            len(messages), first.topic, first.partition, first.offset, group, exc,
        )  # fmt: skip
    done = 0
    for message in messages:
        if stopping.is_set():
            break
        finished = await deliver(
            message,
            handler,
            group=group,
            policy=policy,
            dead_letter=dead_letter,
            stopping=stopping,
        )
        if not finished:
            break
        done += 1
    return done
