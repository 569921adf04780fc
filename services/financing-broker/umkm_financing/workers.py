"""Background work of the broker: the daily ageing of loans (DPD -> SLIK kol), and purging
SNAP external ids older than the replay window (they are unique per partner per day)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import text

from umkm_shared.auth import Actor, ActorKind

from .context import FinancingContext
from .service import Caller, FinancingService, today_wib

log = logging.getLogger(__name__)

AGEING_ACTOR = Actor(kind=ActorKind.SERVICE, client_id="financing-ageing", scopes=frozenset())


class LoanAgeingWorker:
    """Ages every active loan as of today, every `interval` seconds (0: never)."""

    def __init__(self, ctx: FinancingContext, interval: float) -> None:
        self.ctx = ctx
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> tuple[int, int]:
        today = today_wib()
        async with self.ctx.db.transaction() as session:
            await session.execute(
                text("DELETE FROM snap_external_ids WHERE day < :d"),
                {"d": today - timedelta(days=2)},
            )
            service = FinancingService(self.ctx, session, Caller(AGEING_ACTOR))
            return await service.age_loans(today)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                loans, changed = await self.run_once()
                log.info("aged %s loans, %s kol changes", loans, changed)
            except Exception:
                log.exception("loan ageing failed; retrying at the next interval")

    async def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="financing-loan-ageing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
