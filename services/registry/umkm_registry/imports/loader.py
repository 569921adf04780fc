"""Set-based loading: stage, pick the last row of each business, merge in batches.

1. Staging (per chunk of rows, one transaction with the job's progress and the chunk's row
   errors): binary COPY of the valid rows into the job's UNLOGGED table `import_stage_<id>`.
2. Finalise (one transaction): `import_win_<id>` = the last row (in file order) of each business
   key -- the NIB, else owner NIK hash + desa + business name -- and how many earlier rows it
   supersedes (the file's duplicates). "Last wins" is decided over the whole file before anything
   is written, which is what makes a re-import of the same file a no-op even when a business
   appears twice with different values.
3. Merge (per batch, one transaction with the job's progress): the winners of a range of
   buckets (the first two bytes of the owner+desa+name hash, so one person's rows for one
   business always share a batch) are matched to stored records by NIB, else by the same
   owner/desa/name; new ones are inserted (NIB claimed, scale history, change feed, UmkmRegistered),
   matched ones are updated only if a value differs (version + 1, change feed, UmkmUpdated and
   UmkmScaleChanged when the scale moves), the others are counted unchanged.

Events are built by PostgreSQL from the rows the same statement wrote (jsonb_build_object over
`RETURNING`), in the outbox's own columns, instead of `Outbox.enqueue_many`: a 1M-row import
would otherwise read 1M rows back into Python and send 1M JSON documents back (about 2 GB of
traffic and most of the merge time). The snapshot's fields are checked against `UmkmSnapshot`
when this module loads, and the tests parse every event and compare it with
`service.snapshot(row)` of the stored record.

Empty cells never erase stored values (bulk files are often partial); to clear a value use
PATCH /v1/umkm/{id}. Required fields (names, NIK, KBLI, desa) always come from the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from umkm_shared.events.registry import (
    UmkmRegistered,
    UmkmScaleChanged,
    UmkmSnapshot,
    UmkmUpdated,
)
from umkm_shared.messaging.outbox import Outbox
from umkm_shared.scale import SCALE_BANDS

from .normalize import STAGE_COLUMNS

Conn = Any  # asyncpg.Connection (the raw driver connection of a SQLAlchemy session)


def stage_table(job_id: uuid.UUID) -> str:
    return f"import_stage_{job_id.hex}"


def win_table(job_id: uuid.UUID) -> str:
    return f"import_win_{job_id.hex}"


_STAGE_TYPES = {
    "row_no": "bigint", "stage_key": "bytea", "nat_key": "bytea", "bucket": "integer",
    "id": "uuid", "ev_id": "uuid", "ev2_id": "uuid", "sh_id": "uuid",
    "province_code": "text", "regency_code": "text", "district_code": "text",
    "village_code": "text", "business_name": "text", "business_name_search": "text",
    "owner_name": "text", "owner_nik_encrypted": "bytea", "owner_nik_hash": "text",
    "owner_nik_masked": "text", "nib": "text", "npwp": "text", "kbli_version": "text",
    "kbli_code": "text", "address": "text", "latitude": "double precision",
    "longitude": "double precision", "location_approximate": "boolean",
    "coords_given": "boolean", "capital_idr": "bigint", "annual_sales_idr": "bigint",
    "scale": "text", "scale_basis": "text", "workforce": "integer", "founded_on": "date",
    "products": "jsonb", "certifications": "jsonb",
}  # fmt: skip
assert tuple(_STAGE_TYPES) == STAGE_COLUMNS


async def create_stage(conn: Conn, job_id: uuid.UUID) -> None:
    """A fresh (empty) staging table for the job; any previous one is dropped."""
    cols = ", ".join(f"{name} {typ}" for name, typ in _STAGE_TYPES.items())
    await conn.execute(f"DROP TABLE IF EXISTS {win_table(job_id)}")
    await conn.execute(f"DROP TABLE IF EXISTS {stage_table(job_id)}")
    await conn.execute(
        f"CREATE UNLOGGED TABLE {stage_table(job_id)} ({cols}) WITH (autovacuum_enabled = false)"
    )


async def drop_work_tables(conn: Conn, job_id: uuid.UUID) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {win_table(job_id)}")
    await conn.execute(f"DROP TABLE IF EXISTS {stage_table(job_id)}")


async def staged_count(conn: Conn, job_id: uuid.UUID) -> int | None:
    """Rows in the job's staging table; None when it is gone. (UNLOGGED tables come back
    empty after a PostgreSQL crash; the worker compares this with the committed count.)"""
    if await conn.fetchval("SELECT to_regclass($1)", stage_table(job_id)) is None:
        return None
    return int(await conn.fetchval(f"SELECT count(*) FROM {stage_table(job_id)}"))


async def win_ready(conn: Conn, job_id: uuid.UUID, expected: int) -> bool:
    if await conn.fetchval("SELECT to_regclass($1)", win_table(job_id)) is None:
        return False
    return int(await conn.fetchval(f"SELECT count(*) FROM {win_table(job_id)}")) == expected


async def copy_stage(conn: Conn, job_id: uuid.UUID, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        await conn.copy_records_to_table(stage_table(job_id), records=rows, columns=STAGE_COLUMNS)


ERROR_COLUMNS = ("import_id", "row_number", "seq", "column_name", "value", "reason")


async def copy_errors(
    conn: Conn, job_id: uuid.UUID, errors: Iterable[tuple[int, int, str | None, str | None, str]]
) -> None:
    records = [(job_id, *e) for e in errors]
    if records:
        await conn.copy_records_to_table("import_errors", records=records, columns=ERROR_COLUMNS)


async def finalize(conn: Conn, job_id: uuid.UUID) -> tuple[int, int]:
    """Pick each business's last row; returns (businesses, superseded duplicate rows)."""
    stage, win = stage_table(job_id), win_table(job_id)
    await conn.execute("SET LOCAL work_mem = '256MB'")
    await conn.execute(f"DROP TABLE IF EXISTS {win}")
    await conn.execute(
        f"CREATE UNLOGGED TABLE {win} WITH (autovacuum_enabled = false) AS "
        f"SELECT max(row_no) AS row_no, count(*) - 1 AS dups FROM {stage} GROUP BY stage_key"
    )
    await conn.execute(f"CREATE UNIQUE INDEX ON {win} (row_no)")
    await conn.execute(f"CREATE INDEX ON {stage} (bucket)")
    await conn.execute(f"ANALYZE {stage}")
    await conn.execute(f"ANALYZE {win}")
    total, dups = await conn.fetchrow(f"SELECT count(*), coalesce(sum(dups), 0) FROM {win}")
    return int(total), int(dups)


# --- SQL pieces -----------------------------------------------------------------------------


def _lit(value: str) -> str:
    """A SQL string literal for our own constants (event types, topics, sources)."""
    return "'" + value.replace("'", "''") + "'"


_SNAPSHOT: dict[str, str] = {
    "umkm_id": "{x}.id",
    "business_name": "{x}.business_name",
    "owner_name": "{x}.owner_name",
    "owner_nik_hash": "{x}.owner_nik_hash",
    "owner_nik_masked": "{x}.owner_nik_masked",
    "nib": "{x}.nib",
    "npwp": "{x}.npwp",
    "kbli_primary": "jsonb_build_object('version', {x}.kbli_version, 'code', {x}.kbli_code)",
    "kbli_others": "{x}.kbli_others",
    "village_code": "{x}.village_code",
    "district_code": "{x}.district_code",
    "regency_code": "{x}.regency_code",
    "province_code": "{x}.province_code",
    "latitude": "{x}.latitude",
    "longitude": "{x}.longitude",
    "location_approximate": "{x}.location_approximate",
    "address": "{x}.address",
    "capital_idr": "{x}.capital_idr",
    "annual_sales_idr": "{x}.annual_sales_idr",
    "scale": "{x}.scale",
    "workforce": "{x}.workforce",
    "founded_on": "{x}.founded_on",
    "products": "{x}.products",
    "certifications": "{x}.certifications",
    "status": "{x}.status",
    "version": "{x}.version",
    "registered_at": "{x}.created_at",
    "updated_at": "{x}.updated_at",
}
# A field added to the event snapshot must be added here too (checked at import time).
if set(_SNAPSHOT) != set(UmkmSnapshot.model_fields):  # pragma: no cover - a schema drift guard
    raise RuntimeError(
        "imports.loader: the SQL snapshot does not match UmkmSnapshot: "
        f"{sorted(set(_SNAPSHOT) ^ set(UmkmSnapshot.model_fields))}"
    )
if set(UmkmUpdated.model_fields) != {"umkm", "changed_fields"} or set(
    UmkmRegistered.model_fields
) != {"umkm"}:  # pragma: no cover
    raise RuntimeError("imports.loader: UmkmRegistered/UmkmUpdated changed shape")
_SCALE_CHANGED_FIELDS = {
    "umkm_id", "province_code", "previous_scale", "new_scale", "capital_idr",
    "annual_sales_idr", "changed_at",
}  # fmt: skip
if set(UmkmScaleChanged.model_fields) != _SCALE_CHANGED_FIELDS:  # pragma: no cover
    raise RuntimeError("imports.loader: UmkmScaleChanged changed shape")


def snapshot_sql(x: str) -> str:
    """jsonb of `UmkmSnapshot` for the umkm row alias `x` (28 keys: under the 100-arg limit)."""
    args = ", ".join(f"'{k}', {v.format(x=x)}" for k, v in _SNAPSHOT.items())
    return f"jsonb_build_object({args})"


def scale_sql(capital: str, sales: str) -> tuple[str, str]:
    """(scale, basis) SQL of `domain.scale_of` from the PP 7/2021 bands of umkm_shared.scale."""

    def by(amount: str, attr: str) -> str:
        whens = " ".join(
            f"WHEN {amount} <= {getattr(b, attr)} THEN '{b.scale}'" for b in SCALE_BANDS
        )
        return f"CASE {whens} ELSE 'besar' END"

    scale = (
        f"(CASE WHEN {capital} IS NOT NULL THEN {by(capital, 'max_capital_idr')} "
        f"ELSE {by(sales, 'max_annual_sales_idr')} END)"
    )
    basis = f"(CASE WHEN {capital} IS NOT NULL THEN 'capital' ELSE 'sales' END)"
    return scale, basis


# Merged columns of an update, and the names the API lists in `changed_fields` for each
# (domain.patch_changes: a KBLI change names both columns, a desa change all four region codes).
_CHANGE_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("address",), ("address",)),
    (("annual_sales_idr",), ("annual_sales_idr",)),
    (("business_name",), ("business_name",)),
    (("capital_idr",), ("capital_idr",)),
    (("certifications",), ("certifications",)),
    (("founded_on",), ("founded_on",)),
    (("kbli_version", "kbli_code"), ("kbli_code", "kbli_version")),
    (("latitude",), ("latitude",)),
    (("location_approximate",), ("location_approximate",)),
    (("longitude",), ("longitude",)),
    (("nib",), ("nib",)),
    (("npwp",), ("npwp",)),
    (("owner_name",), ("owner_name",)),
    (("products",), ("products",)),
    (("scale",), ("scale",)),
    (("village_code",), ("district_code", "province_code", "regency_code", "village_code")),
    (("workforce",), ("workforce",)),
)


def _changed_sql() -> str:
    """text[] of changed field names, sorted as the API sorts them, 'owner_nik' last."""
    entries: list[tuple[str, str]] = []
    for cols, names in _CHANGE_GROUPS:
        cond = " OR ".join(f"m.{c} IS DISTINCT FROM u.{c}" for c in cols)
        entries.extend((name, cond) for name in names)
    entries.sort()
    items = ", ".join(f"CASE WHEN {cond} THEN '{name}' END" for name, cond in entries)
    return (
        f"array_remove(ARRAY[{items}]::text[], NULL) || CASE WHEN m.owner_nik_hash <> "
        "u.owner_nik_hash THEN ARRAY['owner_nik'] ELSE ARRAY[]::text[] END"
    )


_MERGED = """
    b.province_code, b.regency_code, b.district_code, b.village_code,
    b.business_name, b.business_name_search, b.owner_name,
    CASE WHEN b.owner_nik_hash = u.owner_nik_hash THEN u.owner_nik_encrypted
         ELSE b.owner_nik_encrypted END AS owner_nik_encrypted,
    b.owner_nik_hash,
    CASE WHEN b.owner_nik_hash = u.owner_nik_hash THEN u.owner_nik_masked
         ELSE b.owner_nik_masked END AS owner_nik_masked,
    coalesce(b.nib, u.nib) AS nib, coalesce(b.npwp, u.npwp) AS npwp,
    b.kbli_version, b.kbli_code, coalesce(b.address, u.address) AS address,
    CASE WHEN b.coords_given THEN b.latitude
         WHEN b.village_code <> u.village_code AND (u.location_approximate OR u.latitude IS NULL)
         THEN b.latitude ELSE u.latitude END AS latitude,
    CASE WHEN b.coords_given THEN b.longitude
         WHEN b.village_code <> u.village_code AND (u.location_approximate OR u.latitude IS NULL)
         THEN b.longitude ELSE u.longitude END AS longitude,
    CASE WHEN b.coords_given THEN false
         WHEN b.village_code <> u.village_code AND (u.location_approximate OR u.latitude IS NULL)
         THEN b.location_approximate ELSE u.location_approximate END AS location_approximate,
    coalesce(b.capital_idr, u.capital_idr) AS capital_idr,
    coalesce(b.annual_sales_idr, u.annual_sales_idr) AS annual_sales_idr,
    coalesce(b.workforce, u.workforce) AS workforce,
    coalesce(b.founded_on, u.founded_on) AS founded_on,
    coalesce(b.products, u.products) AS products,
    coalesce(b.certifications, u.certifications) AS certifications
"""
_UPDATED_COLUMNS = (
    "province_code", "regency_code", "district_code", "village_code", "business_name",
    "business_name_search", "owner_name", "owner_nik_encrypted", "owner_nik_hash",
    "owner_nik_masked", "nib", "npwp", "kbli_version", "kbli_code", "address", "latitude",
    "longitude", "location_approximate", "capital_idr", "annual_sales_idr", "workforce",
    "founded_on", "products", "certifications", "scale",
)  # fmt: skip
_INSERTED_COLUMNS = (
    "province_code", "id", "regency_code", "district_code", "village_code", "business_name",
    "business_name_search", "owner_name", "owner_nik_encrypted", "owner_nik_hash",
    "owner_nik_masked", "nib", "npwp", "kbli_version", "kbli_code", "address", "latitude",
    "longitude", "location_approximate", "capital_idr", "annual_sales_idr", "scale",
    "workforce", "founded_on",
)  # fmt: skip


class ConcurrentChange(Exception):
    """A matched record was changed by another writer during the batch: run the batch again."""


@dataclass
class MergeCounts:
    merged: int = 0  # winners handled (the businesses of the batch)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    duplicate: int = 0  # winners that turned out to be the same record as another winner

    def dedup_sources(self) -> tuple[str | None, str | None]:
        """(changed, new): the batch's relations (id, province_code) of the records that
        duplicate-candidate detection must look at, for `dedup.detect_candidates_from` in the
        same transaction. As RegistryService: new records, and updated ones whose owner, name
        or desa changed (that may make, or end, a duplicate)."""
        changed = new = None
        if self.updated:
            changed = (
                "(SELECT id, province_code FROM imp_u WHERE fail = '' AND changed && "
                "ARRAY['owner_nik', 'business_name', 'village_code']::text[]) dedup_changed"
            )
        if self.inserted:
            new = "(SELECT id, province_code FROM imp_b WHERE how = 'new') dedup_new"
        return changed, new


@dataclass(frozen=True)
class MergeContext:
    job_id: uuid.UUID
    client_id: str
    scope: str | None  # a Dinas's wilayah
    nib_header: str | None
    name_header: str
    outbox: Outbox


async def merge_batch(conn: Conn, ctx: MergeContext, lo: int, hi: int) -> MergeCounts:
    """Merge the winners whose bucket is in [lo, hi) into the registry (inside the caller's
    transaction)."""
    stage, win = stage_table(ctx.job_id), win_table(ctx.job_id)
    outbox = ctx.outbox.tables.outbox.name
    source = _lit(ctx.outbox.source)
    job = ctx.job_id
    counts = MergeCounts()

    await conn.execute("SET LOCAL TimeZone = 'UTC'")  # event timestamps as +00:00
    await conn.execute("SET LOCAL work_mem = '64MB'")
    # batches already run side by side: no parallel workers inside one
    await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    # The batch's winners, each matched to a stored record: by NIB (umkm_nib), else by owner +
    # desa + name. LATERAL ... LIMIT 1 makes each match an index probe in one partition (thanks to
    # province_code): the cost follows the batch, not the size of the registry.
    await conn.execute(
        f"""CREATE TEMP TABLE imp_b ON COMMIT DROP AS
            SELECT s.*, w.dups,
                   coalesce(n.umkm_id, k.id) AS target_id,
                   coalesce(n.province_code, k.province_code) AS target_province,
                   CASE WHEN n.umkm_id IS NOT NULL THEN 'nib'
                        WHEN k.id IS NOT NULL THEN 'key' ELSE 'new' END AS how
            FROM {stage} s JOIN {win} w ON w.row_no = s.row_no
            LEFT JOIN LATERAL (
                SELECT x.umkm_id, x.province_code FROM umkm_nib x WHERE x.nib = s.nib
            ) n ON true
            LEFT JOIN LATERAL (
                SELECT u.id, u.province_code FROM umkm u
                WHERE n.umkm_id IS NULL
                  AND u.province_code = s.province_code AND u.owner_nik_hash = s.owner_nik_hash
                  AND u.village_code = s.village_code
                  AND u.business_name_search = s.business_name_search
                  AND (s.nib IS NULL OR u.nib IS NULL)
                ORDER BY (u.nib IS NOT NULL), u.id LIMIT 1
            ) k ON true
            WHERE s.bucket >= $1 AND s.bucket < $2""",
        lo,
        hi,
    )
    # indexed and analysed: no statement below may fall into a nested loop over a scan
    await conn.execute("CREATE INDEX ON imp_b (row_no)")
    await conn.execute("CREATE INDEX ON imp_b (id)")
    await conn.execute("CREATE INDEX ON imp_b (target_id)")
    await conn.execute("ANALYZE imp_b (row_no, id, nib, target_id, how)")
    # Two winners on one record (e.g. a row without NIB and a row with it, same owner, desa and
    # name): the later row wins; a losing row with its own NIB is a business of its own.
    await conn.execute(
        """UPDATE imp_b r SET target_id = NULL, target_province = NULL,
               how = CASE WHEN r.nib IS NOT NULL AND r.how = 'key' THEN 'new' ELSE 'dup' END
           FROM (SELECT target_id, max(row_no) AS keep FROM imp_b
                 WHERE target_id IS NOT NULL GROUP BY target_id HAVING count(*) > 1) c
           WHERE r.target_id = c.target_id AND r.row_no <> c.keep"""
    )

    # --- updates -------------------------------------------------------------------------
    # No row locks while comparing (a re-import compares a million records and changes none):
    # the UPDATE below is a compare-and-set on `version`, and a record changed meanwhile by
    # someone else makes the whole batch roll back and run again (ConcurrentChange).
    scale, basis = scale_sql("m.capital_idr", "m.annual_sales_idr")
    scope_ok = "true"
    if ctx.scope:
        scope_ok = (
            f"(u.village_code = {_lit(ctx.scope)} OR u.village_code LIKE {_lit(ctx.scope + '.%')})"
        )
    await conn.execute(
        f"""CREATE TEMP TABLE imp_u ON COMMIT DROP AS
        SELECT b.row_no, b.how, u.id, u.province_code AS old_province,
               u.village_code AS old_village, u.status AS old_status, u.scale AS old_scale,
               u.nib AS old_nib, u.version AS old_version,
               b.ev_id, b.ev2_id, b.sh_id, m.*, sc.scale, sc.basis,
               ch.changed, (u.status = 'active' AND {scope_ok}) AS allowed, ''::text AS fail
        FROM imp_b b
             CROSS JOIN LATERAL (SELECT * FROM umkm x WHERE x.province_code = b.target_province
                                 AND x.id = b.target_id) u,
             LATERAL (SELECT {_MERGED}) m,
             LATERAL (SELECT {scale} AS scale, {basis} AS basis) sc,
             LATERAL (SELECT {_changed_sql().replace("m.scale", "sc.scale")} AS changed) ch
        WHERE b.target_id IS NOT NULL"""
    )
    await conn.execute("CREATE INDEX ON imp_u (id)")
    await conn.execute("ANALYZE imp_u (id, old_province)")
    await conn.execute(
        """UPDATE imp_u SET fail = CASE WHEN old_status <> 'active' THEN 'status' ELSE 'scope' END
           WHERE cardinality(changed) > 0 AND NOT allowed"""
    )
    # a record found by owner/desa/name that now gets its NIB: claim it first
    await conn.execute(
        """WITH c AS (
               INSERT INTO umkm_nib (nib, umkm_id, province_code)
               SELECT nib, id, province_code FROM imp_u
               WHERE fail = '' AND old_nib IS NULL AND nib IS NOT NULL
               ON CONFLICT (nib) DO NOTHING RETURNING nib)
           UPDATE imp_u SET fail = 'nib'
           WHERE fail = '' AND old_nib IS NULL AND nib IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM c WHERE c.nib = imp_u.nib)"""
    )
    sets = ", ".join(f"{c} = m.{c}" for c in _UPDATED_COLUMNS)
    updated_type = _lit(UmkmUpdated.type_name())
    scale_type = _lit(UmkmScaleChanged.type_name())
    topic = _lit(UmkmUpdated.topic)
    counts.updated = int(
        await conn.fetchval(
            f"""WITH upd AS (
                UPDATE umkm u SET {sets}, version = u.version + 1, updated_at = now()
                FROM imp_u m
                WHERE u.id = m.id AND u.province_code = m.old_province AND m.fail = ''
                  AND cardinality(m.changed) > 0 AND u.version = m.old_version
                RETURNING u.*, m.old_scale, m.changed, m.old_nib, m.old_province,
                          m.basis AS m_basis, m.ev_id AS m_ev_id, m.ev2_id AS m_ev2_id,
                          m.sh_id AS m_sh_id
            ), ch AS (
                INSERT INTO umkm_changes (umkm_id, province_code, regency_code, change, version)
                SELECT id, province_code, regency_code, 'updated', version FROM upd
            ), sh AS (
                INSERT INTO scale_history (id, umkm_id, province_code, previous_scale, new_scale,
                                           capital_idr, annual_sales_idr, basis, changed_at,
                                           changed_by)
                SELECT m_sh_id, id, province_code, old_scale, scale, capital_idr,
                       annual_sales_idr, m_basis, updated_at, $1
                FROM upd WHERE scale <> old_scale
            ), ev AS (
                INSERT INTO {outbox} (id, topic, key, type, source, subject, time, data, headers)
                SELECT m_ev_id, {topic}, id::text, {updated_type}, {source}, id::text, now(),
                       jsonb_build_object('umkm', {snapshot_sql("upd")},
                                          'changed_fields', to_jsonb(changed)),
                       '{{}}'::jsonb
                FROM upd
            ), ev2 AS (
                INSERT INTO {outbox} (id, topic, key, type, source, subject, time, data, headers)
                SELECT m_ev2_id, {topic}, id::text, {scale_type}, {source}, id::text, now(),
                       jsonb_build_object('umkm_id', id, 'province_code', province_code,
                                          'previous_scale', old_scale, 'new_scale', scale,
                                          'capital_idr', capital_idr,
                                          'annual_sales_idr', annual_sales_idr,
                                          'changed_at', updated_at),
                       '{{}}'::jsonb
                FROM upd WHERE scale <> old_scale
            ), moved AS (
                UPDATE umkm_nib n SET province_code = upd.province_code FROM upd
                WHERE n.umkm_id = upd.id AND upd.old_nib IS NOT NULL
                  AND upd.province_code <> upd.old_province
            )
            SELECT count(*) FROM upd""",
            ctx.client_id,
        )
    )
    expected = await conn.fetchval(
        "SELECT count(*) FROM imp_u WHERE fail = '' AND cardinality(changed) > 0"
    )
    if counts.updated != expected:
        raise ConcurrentChange(f"{expected - counts.updated} records changed during the batch")
    counts.unchanged = int(
        await conn.fetchval(
            "SELECT count(*) FROM imp_u WHERE fail = '' AND cardinality(changed) = 0"
        )
    )

    # --- inserts -------------------------------------------------------------------------
    await conn.execute(
        """WITH c AS (
               INSERT INTO umkm_nib (nib, umkm_id, province_code)
               SELECT b.nib, b.id, b.province_code FROM imp_b b
               WHERE b.how = 'new' AND b.nib IS NOT NULL
               ON CONFLICT (nib) DO NOTHING RETURNING nib)
           UPDATE imp_b SET how = 'nib_taken'
           WHERE how = 'new' AND nib IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM c WHERE c.nib = imp_b.nib)"""
    )
    cols = ", ".join(_INSERTED_COLUMNS)
    vals = ", ".join(f"b.{c}" for c in _INSERTED_COLUMNS)
    registered_type = _lit(UmkmRegistered.type_name())
    counts.inserted = int(
        await conn.fetchval(
            f"""WITH ins AS (
                INSERT INTO umkm ({cols}, kbli_others, products, certifications, status, version,
                                  created_by, created_at, updated_at)
                SELECT {vals}, '[]'::jsonb, coalesce(b.products, '[]'::jsonb),
                       coalesce(b.certifications, '[]'::jsonb), 'active', 1, $1, now(), now()
                FROM imp_b b
                WHERE b.how = 'new'
                ORDER BY b.row_no
                RETURNING *
            ), ch AS (
                INSERT INTO umkm_changes (umkm_id, province_code, regency_code, change, version)
                SELECT id, province_code, regency_code, 'registered', 1 FROM ins
            ), sh AS (
                INSERT INTO scale_history (id, umkm_id, province_code, previous_scale, new_scale,
                                           capital_idr, annual_sales_idr, basis, changed_at,
                                           changed_by)
                SELECT b.sh_id, ins.id, ins.province_code, NULL, ins.scale, ins.capital_idr,
                       ins.annual_sales_idr, b.scale_basis, ins.created_at, $1
                FROM ins JOIN imp_b b ON b.id = ins.id
            ), ev AS (
                INSERT INTO {outbox} (id, topic, key, type, source, subject, time, data, headers)
                SELECT b.ev_id, {topic}, ins.id::text, {registered_type}, {source}, ins.id::text,
                       now(), jsonb_build_object('umkm', {snapshot_sql("ins")}), '{{}}'::jsonb
                FROM ins JOIN imp_b b ON b.id = ins.id
            )
            SELECT count(*) FROM ins""",
            ctx.client_id,
        )
    )
    # --- errors and counts ---------------------------------------------------------------
    nib_col = _lit(ctx.nib_header) if ctx.nib_header else "NULL"
    scope_text = _lit(ctx.scope or "")
    counts.failed = int(
        await conn.fetchval(
            f"""WITH e AS (
                INSERT INTO import_errors (import_id, row_number, seq, column_name, value, reason)
                SELECT $1::uuid, row_no, 0,
                       CASE WHEN how = 'nib' THEN {nib_col} ELSE {_lit(ctx.name_header)} END,
                       CASE WHEN how = 'nib' THEN nib ELSE NULL END,
                       CASE fail
                         WHEN 'status' THEN 'this row would change UMKM ' || id || ', which is '
                              || old_status || '; only active records can change'
                         WHEN 'scope' THEN 'this row would change UMKM ' || id || ' in '
                              || old_village || ', outside your wilayah ' || {scope_text}
                         ELSE 'NIB ' || nib || ' was registered to another UMKM meanwhile; '
                              || 'import the row again'
                       END
                FROM imp_u WHERE fail <> ''
                UNION ALL
                SELECT $1::uuid, r.row_no, 0, {nib_col}, r.nib,
                       'NIB ' || r.nib || ' was registered to another UMKM meanwhile; '
                       || 'import the row again'
                FROM imp_b r WHERE r.how = 'nib_taken'
                RETURNING 1)
            SELECT count(*) FROM e""",
            job,
        )
    )
    counts.duplicate = int(await conn.fetchval("SELECT count(*) FROM imp_b WHERE how = 'dup'"))
    counts.merged = int(await conn.fetchval("SELECT count(*) FROM imp_b"))
    if counts.inserted or counts.updated:
        await conn.execute("SELECT pg_notify($1, '')", ctx.outbox.notify_channel)
    return counts
