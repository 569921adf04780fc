"""The retry schedule of webhook deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["DEFAULT_DELAYS", "RetrySchedule"]

# Seconds to wait before each attempt: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (8 attempts over ~27.6 h, the schedule of Svix and the Standard Webhooks guidance).
DEFAULT_DELAYS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True)
class RetrySchedule:
    """`delays[i]` is the wait before attempt i + 1 (counted from the previous attempt; the
    first from enqueue). After the last attempt fails the message is `failed` (replayable).

        RetrySchedule.default()           # production
        RetrySchedule([0, 0.05, 0.1])     # tests: three attempts within a fraction of a second
    """

    delays: tuple[float, ...]

    def __init__(self, delays: Iterable[float]) -> None:
        values = tuple(float(d) for d in delays)
        if not values:
            raise ValueError("a retry schedule needs at least one attempt")
        if any(d < 0 for d in values):
            raise ValueError("retry delays cannot be negative")
        object.__setattr__(self, "delays", values)

    @classmethod
    def default(cls) -> RetrySchedule:
        return cls(DEFAULT_DELAYS)

    @property
    def max_attempts(self) -> int:
        return len(self.delays)

    @property
    def total(self) -> timedelta:
        """Time from enqueue to the last attempt when every attempt fails."""
        return timedelta(seconds=sum(self.delays))

    def delay_after(self, attempts_made: int) -> timedelta | None:
        """The wait before the next attempt after `attempts_made` attempts; None when the
        schedule is exhausted."""
        if attempts_made >= len(self.delays):
            return None
        return timedelta(seconds=self.delays[attempts_made])
