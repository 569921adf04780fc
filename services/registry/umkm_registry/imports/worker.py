"""The import worker: an asyncio task in the registry process that runs queued jobs.

Claiming: `SELECT ... FOR UPDATE SKIP LOCKED` over queued and running jobs, then a session-level
advisory lock on the job, held on a dedicated connection for as long as the job runs. A worker
that dies (process killed, connection lost) loses the lock with its connection, so another
worker -- or the same service after a restart -- picks the job up at once; no timeouts to tune.
A live worker's job is never taken over because its lock is held.

Every transaction of a job does a compare-and-set on the job's progress (`rows_read` while
staging, the batch number not yet in `merged_batches` while merging), so even two workers that
both believed they owned a job could never apply a chunk or a batch twice: the loser's
transaction updates nothing and rolls back.

Progress is committed with the data: a chunk's staged rows and row errors with `rows_read`, a
merge batch's records, events and errors with its entry in `merged_batches`. A crash resumes at
the first uncommitted chunk, or with the batches not yet done; nothing is half-applied and
nothing is applied twice.

Parsing runs in a process pool (`ImportSettings.parse_workers`), overlapped with reading the
file (a thread) and committing chunks (the event loop): at most `workers + 1` chunks are in
flight, so memory does not grow with the file. Merge batches run `merge_connections` at a time:
Python is idle then, and PostgreSQL can use every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import logging
import multiprocessing
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.crypto import NikVault
from umkm_shared.db import Database
from umkm_shared.messaging.outbox import Outbox
from umkm_shared.settings import ServiceSettings

from ..dedup.detection import detect_candidates_from
from . import loader
from .columns import BY_KEY, ColumnPlan, missing_required, plan_columns
from .metrics import IMPORT_ROWS
from .models import ImportJob
from .normalize import BUCKETS, RowPlan, StagedChunk, init_process, normalize_chunk, use_vault
from .readers import FileRejected, Opened, open_file
from .settings import ImportSettings

log = logging.getLogger(__name__)

_LOCK_NAMESPACE = b"umkm-registry-import:"
_DEDUP_LOCK = int.from_bytes(hashlib.sha256(b"umkm-registry-import-dedup").digest()[:8], "big",
                             signed=True)  # fmt: skip
MAX_ATTEMPTS = 20  # claims of one job before it is failed (a crash loop must end)
_TRANSIENT = (OSError, ConnectionError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
              asyncpg.CannotConnectNowError, BrokenProcessPool)  # fmt: skip


class JobFailed(Exception):
    """The job cannot complete (a file or mapping problem); the message is for the uploader."""


class LostJob(Exception):
    """Another worker advanced the job, or it was reset: stop without touching it."""


def lock_key(job_id: uuid.UUID) -> int:
    digest = hashlib.sha256(_LOCK_NAMESPACE + job_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under a session, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs itself;
    statements sent on the raw connection before that would each commit on their own. So one
    statement goes through the session first (as `Outbox.enqueue_many` does)."""
    await session.execute(text("SELECT 1"))
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():  # a guard against adapter changes
        raise RuntimeError("imports: the session's transaction has not begun")
    return driver


def _is_transient(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _TRANSIENT):
            return True
        if getattr(seen, "connection_invalidated", False):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass
class _Ctx:
    job: ImportJob
    opened: Opened | None = None
    plan: ColumnPlan | None = None


class ImportWorker:
    """Runs import jobs in the background of a registry process (start/stop with the runtime)."""

    def __init__(
        self,
        db: Database,
        vault: NikVault,
        outbox: Outbox,
        service_settings: ServiceSettings,
        settings: ImportSettings | None = None,
        *,
        name: str = "import-worker",
    ) -> None:
        self.db = db
        self.vault = vault
        self.outbox = outbox
        self.service_settings = service_settings
        self.settings = settings or ImportSettings()
        self.name = name
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool: Executor | None = None
        self._stopping = False
        # test hook: called after each committed transaction of a job ("stage"/"merge", n)
        self.after_commit: Callable[[str, int], Awaitable[None]] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if not self.settings.worker_enabled or self._task is not None:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def poke(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        backoff = self.settings.poll_seconds
        while not self._stopping:
            try:
                ran = await self.run_once()
                backoff = self.settings.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("import worker: unexpected error; retrying")
                ran = False
                backoff = min(backoff * 2, 60.0)
            if ran:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)

    # --- claiming ------------------------------------------------------------------------

    def _dsn(self) -> str:
        return (
            make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )

    async def run_once(self) -> bool:
        """Claim one job and run it to its end (or to a crash). False when none was free."""
        async with self.db.session() as session:  # an idle poll costs one pooled query
            pending = await session.scalar(
                text("SELECT 1 FROM imports WHERE status IN ('queued', 'running') LIMIT 1")
            )
        if pending is None:
            return False
        lock_conn = await asyncpg.connect(self._dsn())
        try:
            job_id = await self._claim(lock_conn)
            if job_id is None:
                return False
            try:
                await self._run(job_id)
            except LostJob:
                log.info("import %s: taken over or reset; stopping", job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _is_transient(exc):
                    log.warning("import %s: interrupted (%r); it will resume", job_id, exc)
                    if isinstance(exc, BrokenProcessPool):
                        self._pool = None
                    await asyncio.sleep(1.0)
                else:
                    log.exception("import %s failed", job_id)
                    await self._fail(job_id, f"internal error: {exc!r}")
            return True
        finally:
            with contextlib.suppress(Exception):
                await lock_conn.close()

    async def _claim(self, conn: asyncpg.Connection) -> uuid.UUID | None:
        async with conn.transaction():
            rows = await conn.fetch(
                """SELECT id, phase, spool_path, attempts FROM imports
                   WHERE status IN ('queued', 'running')
                   ORDER BY created_at, id LIMIT 50 FOR UPDATE SKIP LOCKED"""
            )
            for row in rows:
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(row["id"])):
                    continue  # a live worker runs it
                if row["attempts"] >= MAX_ATTEMPTS:
                    await conn.execute(
                        """UPDATE imports SET status = 'failed', finished_at = now(),
                           error = 'interrupted ' || attempts || ' times (database or worker '
                                   'unavailable); retry it when the cause is fixed'
                           WHERE id = $1""",
                        row["id"],
                    )
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", lock_key(row["id"]))
                    continue
                if row["phase"] == "staging" and not Path(row["spool_path"]).exists():
                    await conn.execute(
                        """UPDATE imports SET status = 'failed', finished_at = now(),
                           error = 'the uploaded file is no longer available on this server'
                           WHERE id = $1""",
                        row["id"],
                    )
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", lock_key(row["id"]))
                    continue
                await conn.execute(
                    """UPDATE imports SET status = 'running', attempts = attempts + 1,
                       started_at = coalesce(started_at, now()), heartbeat_at = now()
                       WHERE id = $1""",
                    row["id"],
                )
                return uuid.UUID(str(row["id"]))
        return None

    # --- a job ---------------------------------------------------------------------------

    async def _load(self, job_id: uuid.UUID) -> ImportJob:
        async with self.db.transaction() as session:
            job = await session.get(ImportJob, job_id)
            if job is None or job.status != "running":
                raise LostJob
            session.expunge(job)
            return job

    async def _run(self, job_id: uuid.UUID) -> None:
        job = await self._load(job_id)
        try:
            if job.phase == "staging":
                await self._stage(job)
                job = await self._load(job_id)
            if job.phase == "merging":
                await self._merge(job)
                job = await self._load(job_id)
            await self._finish(job)
        except (FileRejected, JobFailed) as exc:
            await self._fail(job_id, str(exc))

    async def _fail(self, job_id: uuid.UUID, message: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                text(
                    """UPDATE imports SET status = 'failed', error = :e, finished_at = now()
                       WHERE id = :id AND status = 'running'"""
                ),
                {"id": job_id, "e": message[:2000]},
            )

    async def _finish(self, job: ImportJob) -> None:
        async with self.db.transaction() as session:
            done = await session.execute(
                text(
                    """UPDATE imports SET status = 'done', phase = 'finished', finished_at = now(),
                       heartbeat_at = now() WHERE id = :id AND status = 'running'
                       AND phase = 'merging' AND merge_span > 0
                       AND cardinality(merged_batches) = (:end + merge_span - 1) / merge_span
                       RETURNING id"""
                ),
                {"id": job.id, "end": BUCKETS},
            )
            if done.first() is None:
                raise LostJob
            await loader.drop_work_tables(await _driver(session), job.id)
        with contextlib.suppress(OSError):
            Path(job.spool_path).unlink()  # it holds readable NIKs: keep it no longer than needed

    # --- phase 1: staging ----------------------------------------------------------------

    def _open(self, job: ImportJob) -> tuple[Opened, ColumnPlan]:
        path = Path(job.spool_path)
        if not path.exists():
            raise JobFailed("the uploaded file is no longer available on this server")
        opened = open_file(
            path, job.format, encoding=job.encoding, delimiter=job.delimiter, sheet=job.sheet,
            max_field_chars=self.settings.max_field_chars,
        )  # fmt: skip
        plan = plan_columns(opened.headers, job.column_mapping or {})
        missing = missing_required(plan)
        if missing:
            opened.close()
            found = ", ".join(repr(h) for h in opened.headers if h) or "none"
            raise JobFailed(
                f"missing required columns: {'; '.join(missing)}. Headers found: {found}. "
                "Rename them or send a column_mapping (see GET /v1/imports/columns)."
            )
        return opened, plan

    def _row_plan(self, job: ImportJob, plan: ColumnPlan) -> RowPlan:
        return RowPlan(
            index=dict(plan.index),
            headers={k: plan.headers[i] for k, i in plan.index.items()},
            scope=job.wilayah,
            strict=self.settings.strict_schema,
        )

    def _executor(self) -> Executor | None:
        workers = self.settings.workers()
        if workers == 0:
            use_vault(self.vault)
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_process,
                initargs=(self.service_settings,),
            )
        return self._pool

    async def _stage(self, job: ImportJob, *, rebuild: bool = False) -> None:
        """Read, parse and stage the file from `rows_read` on (`rebuild`: from the start,
        staging rows only, for a staging table lost in a PostgreSQL crash while merging)."""
        started = time.monotonic()
        opened, plan = await asyncio.to_thread(self._open, job)
        try:
            await self._prepare_stage(job, opened, plan, rebuild)
            if not rebuild:
                job = await self._load(job.id)
            skip = 0 if rebuild else job.rows_read
            if skip:
                await asyncio.to_thread(_consume, opened.rows, skip)
            await self._pipeline(job, opened, self._row_plan(job, plan), skip, rebuild)
        finally:
            opened.close()
        async with self.db.transaction() as session:
            raw = await _driver(session)
            if rebuild:
                await loader.finalize(raw, job.id)
                return
            ok = await raw.fetchval(
                """UPDATE imports SET heartbeat_at = now() WHERE id = $1 AND status = 'running'
                   AND phase = 'staging' RETURNING id""",
                job.id,
            )
            if ok is None:
                raise LostJob
            total, dups = await loader.finalize(raw, job.id)
            seconds = round(time.monotonic() - started, 3)
            span = max(1, min(BUCKETS, BUCKETS * self.settings.merge_rows // max(total, 1)))
            await raw.execute(
                """UPDATE imports SET phase = 'merging', merge_total = $2,
                       rows_duplicate = rows_duplicate + $3, merge_cursor = 0, merge_done = 0,
                       merge_span = $5, merged_batches = '{}',
                       summary = summary || jsonb_build_object('staging_seconds',
                           coalesce((summary->>'staging_seconds')::float8, 0) + $4::float8)
                   WHERE id = $1""",
                job.id,
                total,
                dups,
                seconds,
                span,
            )

    async def _prepare_stage(
        self, job: ImportJob, opened: Opened, plan: ColumnPlan, rebuild: bool
    ) -> None:
        async with self.db.transaction() as session:
            raw = await _driver(session)
            if rebuild:
                await loader.create_stage(raw, job.id)
                return
            fresh = job.rows_read == 0
            if not fresh and await loader.staged_count(raw, job.id) != job.rows_staged:
                # the UNLOGGED staging table did not survive (PostgreSQL crash): start over
                log.warning("import %s: staging table lost; staging again from row 1", job.id)
                fresh = True
            summary = {
                "header_row": opened.header_row,
                "headers": opened.headers,
                "columns": plan.as_map(),
                "ignored_columns": plan.ignored,
                "repeated_columns": plan.repeated,
                "unused_mapping": plan.unused_mapping,
                "delimiter": opened.delimiter,
                "encoding": opened.encoding,
                **(opened.extra or {}),
            }
            if fresh:
                await raw.execute("DELETE FROM import_errors WHERE import_id = $1", job.id)
                await loader.create_stage(raw, job.id)
                ok = await raw.fetchval(
                    """UPDATE imports SET rows_read = 0, bytes_read = 0, rows_total = 0,
                           rows_staged = 0, rows_failed = 0, rows_duplicate = 0, inserted = 0,
                           updated = 0, unchanged = 0, heartbeat_at = now(),
                           summary = CASE WHEN summary ? 'same_file_as'
                               THEN jsonb_build_object('same_file_as', summary->'same_file_as')
                               ELSE '{}'::jsonb END || $2::jsonb
                       WHERE id = $1 AND status = 'running' AND phase = 'staging'
                       RETURNING id""",
                    job.id,
                    _json(summary | {"blank_rows": 0}),
                )
                if ok is None:
                    raise LostJob

    async def _pipeline(
        self, job: ImportJob, opened: Opened, plan: RowPlan, skip: int, rebuild: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        pool = self._executor()
        size = self.settings.chunk_rows
        depth = max(2, self.settings.workers() + 1)
        queue: asyncio.Queue[asyncio.Future[StagedChunk] | BaseException | None] = asyncio.Queue(
            maxsize=depth
        )

        def read_chunk(first: int) -> tuple[list[Any], int]:
            try:
                rows = list(islice(opened.rows, size))
            except csv.Error as e:
                raise JobFailed(
                    f"the file cannot be read past row {first - 1}: {e} (a quote that is "
                    "opened and never closed makes the rest of the file one field)"
                ) from e
            except (UnicodeDecodeError, ValueError) as e:
                raise JobFailed(f"the file cannot be read past row {first - 1}: {e}") from e
            except Exception as e:  # openpyxl: any kind for a damaged sheet
                raise JobFailed(f"the file cannot be read past row {first - 1}: {e!r}") from e
            return rows, (opened.position() if opened.position else 0)

        async def produce() -> None:
            first = skip + 1
            try:
                while True:
                    rows, pos = await asyncio.to_thread(read_chunk, first)
                    if not rows:
                        break
                    fut: asyncio.Future[StagedChunk]
                    if pool is None:
                        fut = asyncio.ensure_future(
                            asyncio.to_thread(normalize_chunk, plan, first, rows, pos)
                        )
                    else:
                        fut = loop.run_in_executor(pool, normalize_chunk, plan, first, rows, pos)
                    await queue.put(fut)
                    first += len(rows)
            except asyncio.CancelledError:
                raise  # the consumer is gone: nobody reads the queue any more
            except BaseException as exc:
                await queue.put(exc)  # the consumer re-raises it in order
                return
            await queue.put(None)

        producer = asyncio.create_task(produce())
        n = 0
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                chunk = await item
                await self._commit_chunk(job, chunk, rebuild)
                n += 1
                if self.after_commit is not None:
                    await self.after_commit("stage", n)
            await producer
        except BaseException:
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
            while not queue.empty():
                pending = queue.get_nowait()
                if isinstance(pending, asyncio.Future):
                    pending.cancel()
            raise

    async def _commit_chunk(self, job: ImportJob, chunk: StagedChunk, rebuild: bool) -> None:
        async with self.db.transaction() as session:
            raw = await _driver(session)
            # A staging commit need not wait for the WAL flush: a chunk lost in a PostgreSQL
            # crash is lost with its progress mark (same transaction) and staged again, and
            # nothing outside the database has seen it. (Merge batches keep synchronous commit:
            # their events may be published as soon as they commit.)
            await raw.execute("SET LOCAL synchronous_commit = off")
            if rebuild:
                if not await raw.fetchval(
                    "SELECT 1 FROM imports WHERE id = $1 AND status = 'running'", job.id
                ):
                    raise LostJob
                await loader.copy_stage(raw, job.id, chunk.rows)
                return
            ok = await raw.fetchval(
                """UPDATE imports SET rows_read = $3, bytes_read = $4,
                       rows_total = rows_total + $5, rows_staged = rows_staged + $6,
                       rows_failed = rows_failed + $7, heartbeat_at = now(),
                       summary = jsonb_set(summary, '{blank_rows}', to_jsonb(
                           coalesce((summary->>'blank_rows')::bigint, 0) + $8))
                   WHERE id = $1 AND rows_read = $2 AND status = 'running' AND phase = 'staging'
                   RETURNING id""",
                job.id,
                chunk.first_row - 1,
                chunk.last_row,
                chunk.bytes_pos,
                chunk.data_rows,
                len(chunk.rows),
                chunk.failed_rows,
                chunk.blank_rows,
            )
            if ok is None:
                raise LostJob
            await loader.copy_stage(raw, job.id, chunk.rows)
            await loader.copy_errors(raw, job.id, chunk.errors)
        IMPORT_ROWS.labels("staged").inc(len(chunk.rows))
        IMPORT_ROWS.labels("failed").inc(chunk.failed_rows)

    # --- phase 2: merging ----------------------------------------------------------------

    async def _merge(self, job: ImportJob) -> None:
        """Merge batches -- fixed bucket ranges -- `merge_connections` at a time, each in its
        own transaction that also records the batch as done (so a batch is applied once)."""
        started = time.monotonic()
        async with self.db.transaction() as session:
            raw = await _driver(session)
            intact = await loader.staged_count(raw, job.id) == job.rows_staged and (
                await loader.win_ready(raw, job.id, job.merge_total)
            )
        if not intact:
            log.warning("import %s: work tables lost; staging the file again", job.id)
            await self._stage(job, rebuild=True)
        plan = job.summary.get("columns", {})
        by_field = {v: k for k, v in plan.items()}
        hook = self.settings.dedup_hook
        mctx = loader.MergeContext(
            job_id=job.id,
            client_id=job.client_id,
            scope=job.wilayah,
            nib_header=by_field.get("nib"),
            name_header=by_field.get("business_name", BY_KEY["business_name"].label),
            outbox=self.outbox,
        )
        span = job.merge_span
        batches = [b for b in range(-(-BUCKETS // span)) if b not in set(job.merged_batches)]
        todo = iter(batches)
        done = 0

        stats_lock = asyncio.Lock()

        async def run() -> None:
            nonlocal done
            for batch in todo:  # a shared iterator: each batch goes to one task
                await self._merge_batch(job, mctx, hook, batch, span)
                done += 1
                if self.after_commit is not None:
                    await self.after_commit("merge", done)
                if not stats_lock.locked():
                    async with stats_lock:
                        await self._refresh_stats()

        tasks = [
            asyncio.create_task(run()) for _ in range(min(self.settings.mergers(), len(batches)))
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        async with self.db.transaction() as session:
            await session.execute(
                text(
                    """UPDATE imports SET summary = summary || jsonb_build_object('merging_seconds',
                           coalesce((summary->>'merging_seconds')::float8, 0) + :s)
                       WHERE id = :id"""
                ),
                {"id": job.id, "s": round(time.monotonic() - started, 3)},
            )

    async def _merge_batch(
        self,
        job: ImportJob,
        mctx: loader.MergeContext,
        hook: bool,
        batch: int,
        span: int,
    ) -> None:
        lo, hi = batch * span, min(BUCKETS, (batch + 1) * span)
        for attempt in range(6):
            try:
                async with self.db.transaction() as session:
                    raw = await _driver(session)
                    if not await raw.fetchval(
                        """SELECT 1 FROM imports WHERE id = $1 AND status = 'running'
                           AND phase = 'merging' AND NOT ($2 = ANY(merged_batches))""",
                        job.id,
                        batch,
                    ):
                        raise LostJob
                    counts = await loader.merge_batch(raw, mctx, lo, hi)
                    warning = None
                    if hook:
                        warning = await self._call_dedup(session, counts)
                    # last statement: the job row stays locked only for the commit
                    ok = await raw.fetchval(
                        """UPDATE imports SET merged_batches = array_append(merged_batches, $2),
                               merge_cursor = merge_cursor + 1, merge_done = merge_done + $3,
                               inserted = inserted + $4, updated = updated + $5,
                               unchanged = unchanged + $6, rows_failed = rows_failed + $7,
                               rows_duplicate = rows_duplicate + $8, heartbeat_at = now(),
                               summary = CASE WHEN $9::text IS NULL THEN summary ELSE
                                   jsonb_set(summary, '{warnings}',
                                       coalesce(summary->'warnings', '[]'::jsonb)
                                       || to_jsonb($9::text))
                                   END
                           WHERE id = $1 AND status = 'running' AND phase = 'merging'
                             AND NOT ($2 = ANY(merged_batches))
                           RETURNING id""",
                        job.id,
                        batch,
                        counts.merged,
                        counts.inserted,
                        counts.updated,
                        counts.unchanged,
                        counts.failed,
                        counts.duplicate,
                        warning,
                    )
                    if ok is None:
                        raise LostJob
                for outcome in ("inserted", "updated", "unchanged", "duplicate"):
                    IMPORT_ROWS.labels(outcome).inc(getattr(counts, outcome))
                return
            except (
                asyncpg.DeadlockDetectedError,
                asyncpg.SerializationError,
                loader.ConcurrentChange,
            ):
                # another writer (or batch: a business renamed within the file) got there first
                if attempt == 5:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _refresh_stats(self) -> None:
        """ANALYZE the umkm partitions this import has grown since their last statistics.

        A national import multiplies the size of every partition within minutes, long before
        autovacuum notices; with stale statistics the planner probes a partition through its
        primary key (province_code: every row) instead of the owner's NIK hash, and each
        "same owner, desa and name?" probe reads the whole partition."""
        async with self.db.transaction() as session:
            raw = await _driver(session)
            stale = await raw.fetch(
                """SELECT s.relid::regclass::text AS name
                   FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid
                   JOIN pg_class c ON c.oid = s.relid
                   WHERE i.inhparent = 'umkm'::regclass
                     AND s.n_mod_since_analyze > greatest(2000, 0.5 * greatest(c.reltuples, 0))"""
            )
            for row in stale:
                await raw.execute(f'ANALYZE "{row["name"]}"')

    async def _call_dedup(self, session: AsyncSession, counts: loader.MergeCounts) -> str | None:
        """Duplicate-candidate detection for the batch's new and re-keyed records, set-based
        over the batch tables (a few statements per batch), in a savepoint: its failure must not
        fail the import."""
        changed, new = counts.dedup_sources()
        if changed is None and new is None:
            return None
        # Batches merge side by side: two that each hold one record of a pair would each run
        # detection before the other's records are committed, and the pair would be missed.
        # Detection is serialised (this lock is held until the batch commits), so the second
        # batch sees the first one's records.
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DEDUP_LOCK})
        try:
            async with session.begin_nested():
                await detect_candidates_from(session, changed=changed, new=new)
        except Exception as exc:
            log.warning("dedup candidate detection failed: %r", exc)
            return (
                f"duplicate-candidate detection failed for the {counts.inserted} new and "
                f"{counts.updated} updated records of a batch: {exc!r}"
            )[:500]
        return None


def _consume(rows: Any, n: int) -> None:
    for _ in islice(rows, n):
        pass


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
