"""Bulk import survives crashes: a worker dying while staging, while merging, killed with
SIGKILL in another process, or losing its UNLOGGED work tables (a PostgreSQL crash) -- and two
workers racing for one job -- all end in exactly the state of an uninterrupted import."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from test_imports_helpers import ImportApp, errors, import_app, run, scalar, state, upload

from umkm_registry.imports import ImportSettings, ImportWorker
from umkm_registry.imports.loader import stage_table, win_table
from umkm_shared.synthetic import write_import_file

SMALL = {"chunk_rows": 100, "merge_rows": 120, "worker_enabled": False}


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the worker may catch it, like a dying process."""


@pytest.fixture(scope="module")
def import_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "jabar.csv"
    write_import_file(path, 1200, within="32", seed=77)
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def reference(
    make_database: Any, keys: dict[str, Any], import_file: Path
) -> AsyncIterator[tuple[dict[str, Any], list[tuple[Any, ...]], dict[str, Any]]]:
    """The uninterrupted import of the file: its end state, error report and counts."""
    async for ia in import_app(make_database, keys, "imports_ref", chunk_rows=100, merge_rows=120):
        h = ia.headers()
        job = await run(ia, h, import_file)
        assert job["status"] == "done", job["error"]
        report = [(e["row"], e["column"], e["reason"]) for e in await errors(ia, h, job["id"])]
        yield await state(ia), report, job["counts"]


@pytest_asyncio.fixture(loop_scope="session")
async def ia(make_database: Any, keys: dict[str, Any]) -> AsyncIterator[ImportApp]:
    """A registry whose own worker is off: the tests drive workers by hand."""
    async for x in import_app(make_database, keys, "imports_crash", **SMALL):
        yield x


def worker(ia: ImportApp, **over: Any) -> ImportWorker:
    ctx = ia.app.state.registry
    base = {"parse_workers": 0, "spool_dir": ia.app.state.import_settings.spool_dir}
    settings = ImportSettings(**(base | SMALL | over))
    return ImportWorker(ia.runtime.db, ctx.vault, ctx.outbox, ia.app.state.settings, settings)


def crash_after(phase: str, n: int) -> Callable[[str, int], Awaitable[None]]:
    async def hook(p: str, done: int) -> None:
        if p == phase and done >= n:
            raise SimulatedCrash(f"{phase} {done}")

    return hook


async def submit(ia: ImportApp, path: Path) -> tuple[dict[str, str], str]:
    h = ia.headers()
    r = await upload(ia, h, path)
    assert r.status_code == 202, r.text
    return h, r.json()["id"]


async def job_row(ia: ImportApp, job_id: str) -> dict[str, Any]:
    async with ia.runtime.db.session() as s:
        from sqlalchemy import text

        row = (
            (await s.execute(text("SELECT * FROM imports WHERE id = :i"), {"i": job_id}))
            .mappings()
            .one()
        )
        return dict(row)


async def finish_and_compare(
    ia: ImportApp, h: dict[str, str], job_id: str, reference: Any
) -> dict[str, Any]:
    ref_state, ref_report, ref_counts = reference
    assert await worker(ia).run_once() is True
    job = (await ia.client.get(f"/v1/imports/{job_id}", headers=h)).json()
    assert job["status"] == "done", job["error"]
    assert job["counts"] == ref_counts
    assert [(e["row"], e["column"], e["reason"]) for e in await errors(ia, h, job_id)] == ref_report
    assert await state(ia) == ref_state
    assert await scalar(ia, "SELECT to_regclass(:t)", t=stage_table(uuid.UUID(job_id))) is None
    return job


async def test_crash_while_staging_then_while_merging(
    ia: ImportApp, import_file: Path, reference: Any
) -> None:
    h, job_id = await submit(ia, import_file)
    w = worker(ia)
    w.after_commit = crash_after("stage", 4)
    with pytest.raises(SimulatedCrash):
        await w.run_once()
    row = await job_row(ia, job_id)
    assert (row["status"], row["phase"], row["rows_read"]) == ("running", "staging", 400)
    assert await scalar(ia, "SELECT count(*) FROM import_errors WHERE import_id = :i", i=job_id) > 0
    assert await scalar(ia, "SELECT count(*) FROM umkm") == 0  # nothing merged while staging

    w = worker(ia, merge_connections=1)
    w.after_commit = crash_after("merge", 3)
    with pytest.raises(SimulatedCrash):
        await w.run_once()
    row = await job_row(ia, job_id)
    assert (row["status"], row["phase"], len(row["merged_batches"])) == ("running", "merging", 3)
    partial = await scalar(ia, "SELECT count(*) FROM umkm")
    assert 0 < partial < reference[2]["inserted"]
    assert await scalar(ia, "SELECT count(*) FROM outbox") == partial  # events with their rows

    job = await finish_and_compare(ia, h, job_id, reference)
    assert job["summary"]["staging_seconds"] > 0


async def test_killed_process_resumes(ia: ImportApp, import_file: Path, reference: Any) -> None:
    """SIGKILL a service process in the middle of the import; a new one finishes it."""
    h, job_id = await submit(ia, import_file)
    settings = ia.app.state.settings
    env = os.environ | {
        "REGISTRY_IMPORT_PARSE_WORKERS": "0",
        "REGISTRY_IMPORT_CHUNK_ROWS": "50",
        "REGISTRY_IMPORT_MERGE_ROWS": "60",
    }
    script = (
        "import asyncio, json, sys\n"
        "from umkm_registry.config import RegistrySettings\n"
        "from umkm_registry.app import build\n"
        "s = RegistrySettings.model_validate_json(sys.argv[1])\n"
        "app, rt = build(s)\n"
        "rt.relay_enabled = False\n"
        "async def slow(phase, n):\n"
        "    await asyncio.sleep(0.05)  # so the kill lands in the middle\n"
        "app.state.import_worker.after_commit = slow\n"
        "async def main():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        await asyncio.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    payload = settings.model_dump(mode="json")
    payload["nik_encryption_keys"] = {
        k: v.get_secret_value() for k, v in settings.nik_encryption_keys.items()
    }
    payload["nik_hash_key"] = settings.nik_hash_key.get_secret_value()
    payload["jwt_private_key"] = (
        settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None
    )
    # started once and polled without blocking
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(payload)], env=env)  # noqa: ASYNC220
    try:
        for _ in range(600):  # until it has committed some work (staged chunks or merged batches)
            await asyncio.sleep(0.05)
            row = await job_row(ia, job_id)
            if row["phase"] == "merging" and len(row["merged_batches"]) >= 2:
                break
            assert proc.poll() is None, "the service process died on its own"
        else:
            raise AssertionError(f"the service process made no progress: {row}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    row = await job_row(ia, job_id)
    assert row["status"] == "running" and row["finished_at"] is None
    await finish_and_compare(ia, h, job_id, reference)


async def test_lost_work_tables_are_rebuilt(
    ia: ImportApp, import_file: Path, reference: Any
) -> None:
    """UNLOGGED tables come back empty after a PostgreSQL crash: the job stages again."""
    h, job_id = await submit(ia, import_file)
    w = worker(ia, merge_connections=1)
    w.after_commit = crash_after("merge", 2)
    with pytest.raises(SimulatedCrash):
        await w.run_once()
    jid = uuid.UUID(job_id)
    async with ia.runtime.db.transaction() as s:
        from sqlalchemy import text

        await s.execute(text(f"TRUNCATE {stage_table(jid)}, {win_table(jid)}"))
    await finish_and_compare(ia, h, job_id, reference)

    # and while staging: the staging table is found short and staging starts over
    h, job_id = await submit(ia, import_file)
    w = worker(ia)
    w.after_commit = crash_after("stage", 3)
    with pytest.raises(SimulatedCrash):
        await w.run_once()
    async with ia.runtime.db.transaction() as s:
        await s.execute(text(f"TRUNCATE {stage_table(uuid.UUID(job_id))}"))
    assert await worker(ia).run_once() is True
    again = (await ia.client.get(f"/v1/imports/{job_id}", headers=h)).json()
    ref_counts = reference[2]
    assert again["status"] == "done"
    assert again["counts"]["unchanged"] == ref_counts["inserted"]  # the first run stored them
    assert again["counts"]["rows_failed"] == ref_counts["rows_failed"]
    assert await state(ia) == reference[0]


async def test_two_workers_never_share_a_job(
    ia: ImportApp, import_file: Path, reference: Any
) -> None:
    h, job_id = await submit(ia, import_file)
    a, b = worker(ia), worker(ia)
    started = asyncio.Event()

    async def slow(phase: str, n: int) -> None:
        started.set()
        await asyncio.sleep(0.01)

    a.after_commit = slow
    task = asyncio.create_task(a.run_once())
    await started.wait()
    assert await b.run_once() is False  # the job is locked by a live worker
    assert await task is True
    job = (await ia.client.get(f"/v1/imports/{job_id}", headers=h)).json()
    assert job["status"] == "done" and job["counts"] == reference[2]
    assert await state(ia) == reference[0]
