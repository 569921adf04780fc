"""Benchmark: the registry's bulk import, end to end, against a bare COPY of the same file.

    uv run python scripts/devstack.py run --postgres -- uv run python bench/registry_import.py
    (or with DATABASE_URL of a running server; `--rows 100000` for a quicker run)

Writes bench/results/registry_import.json.

The file: `--rows` synthetic UMKM rows (default 1,000,000) as a Dinas-style CSV with Indonesian
headers, 2% invalid rows (one known defect each) and 1% duplicates
(`umkm_shared.synthetic.write_import_file`, cached under .cache/bench/).

Measured path (the clock runs from the first byte uploaded to the job's `done`): the file is
POSTed to /v1/imports of the registry app (in-process ASGI, streamed), the import worker parses
and validates it in its process pool, stages it with COPY, picks each business's last row and
merges into the partitioned `umkm` table with every index, the NIB table, the scale history, the
change feed and one UmkmRegistered event per business in the outbox. The outbox relay is off so
no publishing competes for the CPU: the benchmark ends at "events in the outbox".

Baseline, same run, same database server: `COPY ... FROM STDIN (FORMAT csv, HEADER)` of the same
file into an unindexed UNLOGGED table of 20 text columns (no parsing, validation or indexes).

Then the same file is imported again: it must create nothing and emit no event.

Peak memory: the largest resident set of the service process, of each parse worker process, and
of their sum, sampled every 100 ms from /proc (plus ru_maxrss of the service process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "registry_import.json"
CACHE = ROOT / ".cache" / "bench"
GOAL_RATIO = 0.3
GOAL_PEAK_MB = 500


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


class MemorySampler:
    """Peak RSS of this process, of each child process, and of their sum."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_self = self.peak_child = self.peak_total = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        me = os.getpid()
        while True:
            own = _rss_kb(me)
            kids = [_rss_kb(p) for p in _children(me)]
            self.peak_self = max(self.peak_self, own)
            self.peak_child = max([self.peak_child, *kids])
            self.peak_total = max(self.peak_total, own + sum(kids))
            await asyncio.sleep(self.interval)

    def __enter__(self) -> MemorySampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def result(self) -> dict[str, float]:
        return {
            "service_process_mb": round(self.peak_self / 1024, 1),
            "largest_parse_worker_mb": round(self.peak_child / 1024, 1),
            "all_processes_mb": round(self.peak_total / 1024, 1),
        }


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float:
    """user + system CPU seconds of a live process (0 if it is gone or unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class CpuMeter:
    """CPU seconds spent by the service process, its parse workers and the PostgreSQL server
    (postmaster and all its children: backends, autovacuum, WAL writer, checkpointer) -- a
    breakdown that a busy machine does not distort the way it distorts wall-clock seconds.
    PostgreSQL is only counted when it runs on this machine (the devstack); processes that
    ended during the run (short-lived connections) are not counted."""

    def __init__(self, postmaster: int | None) -> None:
        self.postmaster = postmaster
        self.marks: list[tuple[str, dict[str, float]]] = []

    def sample(self) -> dict[str, float]:
        me = os.getpid()
        out = {
            "service_process": _cpu_s(me),
            "parse_workers": sum(_cpu_s(p) for p in _children(me)),
        }
        if self.postmaster:
            out["postgres"] = _cpu_s(self.postmaster) + sum(
                _cpu_s(p) for p in _children(self.postmaster)
            )
        return out

    def mark(self, name: str) -> None:
        if not any(n == name for n, _ in self.marks):
            self.marks.append((name, self.sample()))

    def phases(self) -> dict[str, dict[str, float]]:
        """CPU seconds between consecutive marks, per process group."""
        out: dict[str, dict[str, float]] = {}
        for (_, a), (name, b) in zip(self.marks, self.marks[1:], strict=False):
            out[name] = {k: round(b[k] - a.get(k, 0.0), 2) for k in b}
        return out


async def postmaster_pid(dsn: str) -> int | None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        try:  # read while the backend lives: its parent is the postmaster
            stat = Path(f"/proc/{backend}/stat").read_text()
        except OSError:
            return None  # not on this machine
    finally:
        await conn.close()
    return int(stat.rsplit(")", 1)[1].split()[1])


def ensure_file(rows: int, seed: int) -> tuple[Path, Any]:
    from umkm_shared.synthetic import ImportFileManifest, write_import_file

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"registry_import_{rows}_s{seed}.csv"
    manifest_path = Path(str(path) + ".manifest.json")
    if path.exists() and manifest_path.exists():
        return path, ImportFileManifest.load(manifest_path)
    print(f"writing {rows} rows to {path} ...", file=sys.stderr, flush=True)
    manifest = write_import_file(path, rows, fmt="csv", seed=seed)
    manifest.save(manifest_path)
    return path, manifest


async def bare_copy(dsn: str, path: Path) -> tuple[float, int]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        cols = ", ".join(f"c{i} text" for i in range(20))
        await conn.execute(
            f"DROP TABLE IF EXISTS bare_copy; CREATE UNLOGGED TABLE bare_copy ({cols})"
        )
        started = time.perf_counter()
        with path.open("rb") as f:
            status = await conn.copy_to_table(
                bare_copy := "bare_copy", source=f, format="csv", header=True
            )
        seconds = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {bare_copy}")
        return seconds, int(status.split()[-1])
    finally:
        await conn.close()


async def run_import(
    app: Any, path: Path, headers: dict[str, str], on_poll: Callable[[dict[str, Any]], None]
) -> tuple[float, dict[str, Any]]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry", timeout=None
    ) as c:
        started = time.perf_counter()
        with path.open("rb") as f:
            r = await c.post(
                "/v1/imports", files={"file": (path.name, f, "text/csv")}, headers=headers
            )
        if r.status_code != 202:
            raise RuntimeError(f"upload failed: {r.status_code} {r.text}")
        job_id = r.json()["id"]
        while True:
            await asyncio.sleep(0.5)
            job = (await c.get(f"/v1/imports/{job_id}", headers=headers)).json()
            on_poll(job)
            if job["status"] in ("done", "failed"):
                break
        return time.perf_counter() - started, job


CONFIGS: dict[str, dict[str, str]] = {
    # as deployed: the dedup module's candidate detection runs in every merge batch
    "default": {},
    # a first national load: candidate detection left to a later dedup run
    "no_dedup_hook": {"REGISTRY_IMPORT_DEDUP_HOOK": "false"},
}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    runs = {}
    for name in args.configs.split(","):
        saved = {k: os.environ.get(k) for k in CONFIGS[name]}
        os.environ.update(CONFIGS[name])
        try:
            print(f"== {name}", file=sys.stderr, flush=True)
            runs[name] = await run_config(args)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    first = runs[args.configs.split(",")[0]]
    result = {k: v for k, v in first.items() if k in ("benchmark", "when", "machine", "file")}
    result["summary"] = {
        name: {
            "import_seconds": r["import"]["seconds"],
            "rows_per_second": r["import"]["rows_per_second"],
            "copy_rows_per_second": r["baseline_copy"]["rows_per_second"],
            "ratio": r["ratio"],
            "peak_memory_all_processes_mb": r["peak_memory"]["all_processes_mb"],
            "checks_ok": r["checks"]["counts_match_manifest"]
            and r["checks"]["stored_equals_distinct_businesses"]
            and r["checks"]["one_event_per_business"]
            and r["checks"]["reimport_created_no_event"],
        }
        for name, r in runs.items()
    }
    result["ratio"] = first["ratio"]
    result["goal_ratio"] = GOAL_RATIO
    result["goal_peak_mb"] = GOAL_PEAK_MB
    result["runs"] = {
        name: {k: v for k, v in r.items() if k not in ("benchmark", "when", "machine", "file")}
        for name, r in runs.items()
    }
    return result


async def run_config(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from sqlalchemy.engine import make_url

    sys.path.insert(0, str(ROOT / "services" / "registry" / "tests"))
    from registry_support import mint, registry_settings  # type: ignore[import-not-found]

    from umkm_registry.app import MIGRATIONS, build
    from umkm_shared.db import create_database_if_missing, upgrade
    from umkm_shared.devkeys import dev_secrets

    admin = os.environ.get("DATABASE_URL")
    if not admin:
        raise SystemExit("DATABASE_URL is not set (use scripts/devstack.py run --postgres -- ...)")
    path, manifest = ensure_file(args.rows, args.seed)
    if args.parse_workers is not None:
        os.environ["REGISTRY_IMPORT_PARSE_WORKERS"] = str(args.parse_workers)
    os.environ.setdefault("REGISTRY_IMPORT_SPOOL_DIR", str(CACHE / "spool"))
    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    url = await create_database_if_missing(admin, name)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        await upgrade(url, MIGRATIONS)
        copy_seconds, copied = await bare_copy(dsn, path)
        print(f"bare COPY: {copied} rows in {copy_seconds:.2f} s", file=sys.stderr, flush=True)

        settings = registry_settings(url, dev_secrets(), log_level="WARNING")
        app, runtime = build(settings)
        runtime.relay_enabled = False  # measure up to "events in the outbox"
        logging.getLogger("umkm_shared.http").setLevel(logging.WARNING)
        last = {"t": 0.0}

        cpu = CpuMeter(await postmaster_pid(dsn))

        def progress(job: dict[str, Any]) -> None:
            if job["progress"]["phase"] == "merging" or job["status"] == "done":
                cpu.mark("staging")  # parse, validate, COPY, pick the winners
            now = time.monotonic()
            if now - last["t"] > 5:
                last["t"] = now
                p = job["progress"]
                print(
                    f"  {job['status']} {p['phase']}: rows {p['rows_done']}, merged "
                    f"{p['businesses_merged']}/{p['businesses_total']}, "
                    f"{p['rows_per_second']} rows/s",
                    file=sys.stderr,
                    flush=True,
                )

        async with app.router.lifespan_context(app):
            headers = mint(app, "ministry")
            with MemorySampler() as sampler:
                cpu.mark("start")
                seconds, job = await run_import(app, path, headers, progress)
                cpu.mark("merging")  # match, insert, events, change feed, dedup
            memory = sampler.result()
            print(f"import: {seconds:.1f} s, {job['status']}", file=sys.stderr, flush=True)
            again_seconds, again = await run_import(app, path, headers, lambda j: None)
            print(f"re-import: {again_seconds:.1f} s", file=sys.stderr, flush=True)
            import asyncpg

            conn = await asyncpg.connect(dsn)
            try:
                stored = await conn.fetchval("SELECT count(*) FROM umkm")
                events = await conn.fetchval("SELECT count(*) FROM outbox")
                changes = await conn.fetchval("SELECT count(*) FROM umkm_changes")
            finally:
                await conn.close()
        memory["service_process_ru_maxrss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
    finally:
        import asyncpg

        conn = await asyncpg.connect(
            make_url(admin.replace("postgresql+asyncpg", "postgresql")).render_as_string(
                hide_password=False
            )
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    counts = job["counts"]
    rows = manifest.rows
    rate = rows / seconds
    copy_rate = copied / copy_seconds
    expected = {
        "rows_total": rows,
        "rows_failed": len(manifest.invalid_rows),
        "rows_duplicate": len(manifest.duplicate_rows),
        "inserted": manifest.distinct_businesses,
    }
    checks = {
        "counts_match_manifest": all(counts[k] == v for k, v in expected.items()),
        "stored_records": stored,
        "stored_equals_distinct_businesses": stored == manifest.distinct_businesses,
        "outbox_events": events,
        "one_event_per_business": events == manifest.distinct_businesses,
        "change_feed_rows": changes,
        "reimport_inserted_updated": [again["counts"]["inserted"], again["counts"]["updated"]],
        "reimport_unchanged": again["counts"]["unchanged"],
        "reimport_created_no_event": events == manifest.distinct_businesses,
    }
    return {
        "benchmark": "registry bulk import vs bare COPY",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "file": {
            "rows": rows,
            "bytes": path.stat().st_size,
            "format": "csv (comma, UTF-8, Indonesian headers)",
            "invalid_rows": len(manifest.invalid_rows),
            "duplicate_rows": len(manifest.duplicate_rows),
            "distinct_businesses": manifest.distinct_businesses,
        },
        "baseline_copy": {
            "seconds": round(copy_seconds, 3),
            "rows_per_second": round(copy_rate),
            "what": "COPY FROM STDIN (csv, header) into an unindexed UNLOGGED table "
            "of 20 text columns",
        },
        "import": {
            "seconds": round(seconds, 3),
            "rows_per_second": round(rate),
            "staging_seconds": job["summary"].get("staging_seconds"),
            "merging_seconds": job["summary"].get("merging_seconds"),
            "parse_workers": app.state.import_settings.workers(),
            "merge_connections": app.state.import_settings.mergers(),
            "dedup_hook": app.state.import_settings.dedup_hook,
            "chunk_rows": app.state.import_settings.chunk_rows,
            "merge_rows": app.state.import_settings.merge_rows,
            "counts": counts,
            "cpu_seconds": cpu.phases(),
        },
        "reimport_same_file": {"seconds": round(again_seconds, 3), "counts": again["counts"]},
        "ratio": round(rate / copy_rate, 4),
        "goal_ratio": GOAL_RATIO,
        "peak_memory": memory,
        "goal_peak_mb": GOAL_PEAK_MB,
        "checks": checks,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parse-workers", type=int, default=None)
    parser.add_argument(
        "--configs", default="default,no_dedup_hook", help=f"comma-separated: {', '.join(CONFIGS)}"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write the JSON")
    result = asyncio.run(main(parser.parse_args()))
    text = json.dumps(result, indent=2)
    print(text)
    if not parser.parse_args().no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n")
