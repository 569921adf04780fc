"""Helpers for the bulk-import tests (no tests here): a registry app on its own database, upload
and wait, the synthetic file's expected records, and a canonical dump of what an import wrote."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from registry_support import READ_WRITE, registry_settings
from sqlalchemy import text

from umkm_registry.app import MIGRATIONS, build
from umkm_registry.imports import ImportSettings
from umkm_shared.auth import Actor, ActorKind
from umkm_shared.db import upgrade
from umkm_shared.runtime import ServiceRuntime
from umkm_shared.synthetic import BLOCK, ImportFileManifest, SyntheticUmkm, generate_batches


@dataclass
class ImportApp:
    app: FastAPI
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    url: str

    def headers(self, kind: str = "ministry", wilayah: str | None = None) -> dict[str, str]:
        """A token for a new client (its own id: imports are filtered by client)."""
        actor = Actor(
            kind=ActorKind(kind),
            client_id=f"test-import-{kind}-{uuid.uuid4().hex}",
            wilayah=wilayah,
            scopes=READ_WRITE,
        )
        token = self.app.state.token_issuer.issue(actor).access_token
        return {"Authorization": f"Bearer {token}"}


async def import_app(
    make_database: Any, keys: dict[str, Any], prefix: str, **settings: Any
) -> AsyncIterator[ImportApp]:
    """A registry app with its own migrated database; the import worker parses in a thread
    (no process start-up in tests) unless `settings` say otherwise."""
    url = await make_database(prefix)
    await upgrade(url, MIGRATIONS)
    app, runtime = build(registry_settings(url, keys, log_level="WARNING"))
    runtime.relay_enabled = False  # the outbox is what these tests read
    worker = app.state.import_worker
    spool = Path(tempfile.mkdtemp(prefix="umkm-import-test-"))
    defaults = {"parse_workers": 0, "poll_seconds": 0.2, "spool_dir": spool}
    worker.settings = ImportSettings(**(defaults | settings))
    app.state.import_settings = worker.settings
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
                yield ImportApp(app, runtime, c, url)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


async def upload(
    ia: ImportApp,
    headers: dict[str, str],
    content: bytes | Path,
    name: str = "data.csv",
    **fields: str,
) -> httpx.Response:
    data = content.read_bytes() if isinstance(content, Path) else content
    return await ia.client.post(
        "/v1/imports", files={"file": (name, data)}, data=fields or None, headers=headers
    )


async def wait(
    ia: ImportApp, headers: dict[str, str], job_id: str, seconds: float = 60
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        r = await ia.client.get(f"/v1/imports/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"import {job_id} still {job['status']}: {job['progress']}")
        await asyncio.sleep(0.05)


async def run(
    ia: ImportApp,
    headers: dict[str, str],
    content: bytes | Path,
    name: str = "data.csv",
    **fields: str,
) -> dict[str, Any]:
    r = await upload(ia, headers, content, name, **fields)
    assert r.status_code == 202, r.text
    assert r.headers["location"].endswith(r.json()["id"])
    return await wait(ia, headers, r.json()["id"])


async def errors(ia: ImportApp, headers: dict[str, str], job_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        r = await ia.client.get(f"/v1/imports/{job_id}/errors", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        out.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def expected_records(m: ImportFileManifest) -> dict[int, SyntheticUmkm]:
    """Row -> the synthetic record of each valid original row (what the file holds)."""
    dups = {d.row for d in m.duplicate_rows}
    bad = {e.row for e in m.invalid_rows}
    records = (
        rec
        for batch in generate_batches(
            m.rows, BLOCK, seed=m.seed, within=m.within, as_of=date.fromisoformat(m.as_of)
        )
        for rec in batch.records()
    )
    out: dict[int, SyntheticUmkm] = {}
    for row in range(1, m.rows + 1):
        if row in dups:
            continue
        rec = next(records)
        if row not in bad:
            out[row] = rec
    return out


async def scalar(ia: ImportApp, sql: str, **params: Any) -> Any:
    async with ia.runtime.db.session() as s:
        return (await s.execute(text(sql), params)).scalar()


async def rows(ia: ImportApp, sql: str, **params: Any) -> list[Any]:
    async with ia.runtime.db.session() as s:
        return list((await s.execute(text(sql), params)).all())


async def state(ia: ImportApp, client_id: str | None = None) -> dict[str, Any]:
    """What imports wrote, without ids, timestamps or ciphertexts (which differ run to run):
    the records, the events by type and business, the change feed, scale history, errors."""
    where = "WHERE created_by = :c" if client_id else ""
    params = {"c": client_id} if client_id else {}
    records = await rows(
        ia,
        f"""SELECT nib, owner_nik_hash, owner_nik_masked, village_code, business_name,
                   owner_name, npwp, kbli_code, address, latitude, longitude,
                   location_approximate, capital_idr, annual_sales_idr, scale, workforce,
                   founded_on, products::text, certifications::text, status, version
            FROM umkm {where} ORDER BY owner_nik_hash, village_code, business_name, nib""",
        **params,
    )
    key = "coalesce(u.nib, u.owner_nik_hash || u.village_code || u.business_name_search)"
    events = await rows(
        ia,
        f"""SELECT o.type, {key}, count(*) FROM outbox o JOIN umkm u ON u.id::text = o.key
            {where.replace("created_by", "u.created_by")}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        **params,
    )
    changes = await rows(
        ia,
        f"""SELECT c.change, c.version, count(*) FROM umkm_changes c JOIN umkm u ON u.id = c.umkm_id
            {where.replace("created_by", "u.created_by")} GROUP BY 1, 2 ORDER BY 1, 2""",
        **params,
    )
    history = await rows(
        ia,
        f"""SELECT h.previous_scale, h.new_scale, count(*) FROM scale_history h
            JOIN umkm u ON u.id = h.umkm_id {where.replace("created_by", "u.created_by")}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        **params,
    )
    return {
        "records": [tuple(r) for r in records],
        "events": [tuple(r) for r in events],
        "changes": [tuple(r) for r in changes],
        "scale_history": [tuple(r) for r in history],
    }


def csv_bytes(rows_: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows_)
    return buf.getvalue().encode(encoding)


def slice_csv(path: Path, first: int, last: int) -> bytes:
    """Header + data rows first..last (1-based) of a CSV file."""
    with path.open(encoding="utf-8", newline="") as f:
        all_rows = list(csv.reader(f))
    return csv_bytes([all_rows[0], *all_rows[first : last + 1]])
