"""Finding duplicate candidates, set-based: one query per call, whatever the number of ids.

Called after a registration, after a change of owner NIK / name / desa, after a merge (for the
survivor). The bulk import uses `detect_candidates_from`: the same rules and the same pairs, but
its records come from a relation of the import's transaction (id, province_code) instead of an id
list, so a batch of 20,000 records is one statement with one pruned index probe per record, and
no ids travel to Python and back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.ids import new_id

from . import rules
from .models import DuplicateCandidate

# For each given active record: the other active records of the same owner (keyed NIK hash) in
# the same desa where at least one of the two has no NIB, and which are not a known pair yet
# (any status: a decision is final). The LATERAL with OFFSET 0 keeps the planner from turning the
# lookup into a hash join over the whole table: per given record it is one probe of the owner-NIK
# index in its own province partition (run-time pruning), whatever the table's size.
_PAIRS = text(
    """
    SELECT DISTINCT ON (least(n.id, o.id), greatest(n.id, o.id))
           least(n.id, o.id)    AS umkm_a,
           greatest(n.id, o.id) AS umkm_b,
           n.province_code, n.regency_code, n.village_code,
           CASE WHEN n.id < o.id THEN n.business_name ELSE o.business_name END AS name_a,
           CASE WHEN n.id < o.id THEN o.business_name ELSE n.business_name END AS name_b,
           CASE WHEN n.id < o.id THEN n.nib ELSE o.nib END AS nib_a,
           CASE WHEN n.id < o.id THEN o.nib ELSE n.nib END AS nib_b
      FROM umkm n
     CROSS JOIN LATERAL (
           SELECT o.id, o.business_name, o.nib
             FROM umkm o
            WHERE o.province_code = n.province_code
              AND o.owner_nik_hash = n.owner_nik_hash
              AND o.village_code = n.village_code
              AND o.id <> n.id
              AND o.status = 'active'
              AND (n.nib IS NULL OR o.nib IS NULL)
           OFFSET 0) o
     WHERE n.id = ANY(:ids)
       AND n.status = 'active'
       AND NOT EXISTS (
           SELECT 1 FROM duplicate_candidates dc
            WHERE dc.umkm_a = least(n.id, o.id) AND dc.umkm_b = greatest(n.id, o.id))
     ORDER BY least(n.id, o.id), greatest(n.id, o.id)
    """
).bindparams(bindparam("ids", type_=ARRAY(Uuid())))

# Open candidates of the given records that a change took out of the rules (owner NIK or desa no
# longer the same, both now with an NIB, one no longer active): closed, nobody has to decide them.
# A name that drifted apart is left to the reviewer.
_CLOSE_STALE = text(
    """
    UPDATE duplicate_candidates dc
       SET status = 'superseded', decided_by = :by, decided_at = now(), note = :note
      FROM umkm x, umkm y
     WHERE dc.status = 'open'
       AND (dc.umkm_a = ANY(:ids) OR dc.umkm_b = ANY(:ids))
       AND x.id = dc.umkm_a AND y.id = dc.umkm_b
       AND (x.owner_nik_hash <> y.owner_nik_hash
            OR x.village_code <> y.village_code
            OR (x.nib IS NOT NULL AND y.nib IS NOT NULL)
            OR x.status <> 'active' OR y.status <> 'active')
    """
).bindparams(bindparam("ids", type_=ARRAY(Uuid())))

# The bulk import's records, read once each with one probe of its own partition (an id list,
# `umkm.id = ANY(:ids)`, has no province: it probes the id index of every partition, 39 per
# record). `part` is the partition that holds the record.
_BATCH_RECORDS = """
    CREATE TEMP TABLE dedup_batch ON COMMIT DROP AS
    SELECT x.tableoid::regclass::text AS part, x.id, x.province_code, x.regency_code,
           x.village_code, x.business_name, x.nib, x.owner_nik_hash
      FROM (SELECT DISTINCT id, province_code FROM {source}) g
     CROSS JOIN LATERAL (
           SELECT x.tableoid, x.id, x.province_code, x.regency_code, x.village_code,
                  x.business_name, x.nib, x.owner_nik_hash
             FROM umkm x
            WHERE x.province_code = g.province_code AND x.id = g.id AND x.status = 'active'
           OFFSET 0) x
"""

# The same pairs as `_PAIRS`, for those records, asking each record's partition directly by the
# owner-NIK hash (the only index condition offered; the other tests stay outside the OFFSET 0
# fence). Through the parent table the planner also had the province (the partition key) as a
# condition, and on partitions an import is filling faster than their statistics follow it
# combined the primary key's province column with the owner index: every probe read the whole
# province (40 times slower, seconds per batch). Same-desa pairs are always in one partition.
_PAIRS_IN_PART = """
    SELECT n.id AS n_id, o.id AS o_id, n.province_code, n.regency_code, n.village_code,
           n.business_name AS n_name, o.business_name AS o_name, n.nib AS n_nib, o.nib AS o_nib
      FROM dedup_batch n
     CROSS JOIN LATERAL (
           SELECT o.id, o.business_name, o.nib, o.village_code, o.status
             FROM {part} o
            WHERE o.owner_nik_hash = n.owner_nik_hash
           OFFSET 0) o
     WHERE n.part = {part_literal}
       AND o.village_code = n.village_code
       AND o.id <> n.id
       AND o.status = 'active'
       AND (n.nib IS NULL OR o.nib IS NULL)
"""

_PAIRS_FROM = """
    SELECT DISTINCT ON (least(p.n_id, p.o_id), greatest(p.n_id, p.o_id))
           least(p.n_id, p.o_id)    AS umkm_a,
           greatest(p.n_id, p.o_id) AS umkm_b,
           p.province_code, p.regency_code, p.village_code,
           CASE WHEN p.n_id < p.o_id THEN p.n_name ELSE p.o_name END AS name_a,
           CASE WHEN p.n_id < p.o_id THEN p.o_name ELSE p.n_name END AS name_b,
           CASE WHEN p.n_id < p.o_id THEN p.n_nib ELSE p.o_nib END AS nib_a,
           CASE WHEN p.n_id < p.o_id THEN p.o_nib ELSE p.n_nib END AS nib_b
      FROM ({union}) p
     WHERE NOT EXISTS (
           SELECT 1 FROM duplicate_candidates dc
            WHERE dc.umkm_a = least(p.n_id, p.o_id) AND dc.umkm_b = greatest(p.n_id, p.o_id))
     ORDER BY least(p.n_id, p.o_id), greatest(p.n_id, p.o_id)
"""

_CLOSE_STALE_FROM = """
    UPDATE duplicate_candidates dc
       SET status = 'superseded', decided_by = :by, decided_at = now(), note = :note
      FROM umkm x, umkm y
     WHERE dc.status = 'open'
       AND (dc.umkm_a IN (SELECT id FROM {source}) OR dc.umkm_b IN (SELECT id FROM {source}))
       AND x.id = dc.umkm_a AND y.id = dc.umkm_b
       AND (x.owner_nik_hash <> y.owner_nik_hash
            OR x.village_code <> y.village_code
            OR (x.nib IS NOT NULL AND y.nib IS NOT NULL)
            OR x.status <> 'active' OR y.status <> 'active')
"""

SYSTEM_ACTOR = "registry:dedup"
_STALE_NOTE = (
    "the pair no longer meets the duplicate rules (owner NIK, desa, NIB or status changed)"
)
_INSERT_BATCH = 1000


async def detect_candidates(session: AsyncSession, umkm_ids: list[uuid.UUID]) -> int:
    """Queue every new candidate pair involving `umkm_ids` for review; returns how many were
    added. Idempotent: a pair already known (open or decided) is never added again. Open
    candidates of these records that no longer meet the rules are closed (`superseded`). Runs in
    the caller's transaction and never commits."""
    if not umkm_ids:
        return 0
    await session.execute(
        _CLOSE_STALE, {"ids": list(umkm_ids), "by": SYSTEM_ACTOR, "note": _STALE_NOTE}
    )
    pairs = (await session.execute(_PAIRS, {"ids": list(umkm_ids)})).all()
    return await _queue(session, pairs)


async def detect_candidates_from(
    session: AsyncSession, changed: str | None = None, new: str | None = None
) -> int:
    """`detect_candidates` for the records of SQL relations of the caller's transaction (the
    bulk import's batch tables), each with columns `id` and `province_code`: `changed` holds
    existing records whose owner NIK, name or desa changed (their stale open candidates are
    closed), `new` records created in this transaction (they cannot have candidates yet, so
    nothing is closed for them). The relations are SQL text written by our own code, never
    input. Same rules, same pairs, same rows as `detect_candidates` with their ids."""
    sources = [s for s in (changed, new) if s]
    if not sources:
        return 0
    if changed:
        await session.execute(
            text(_CLOSE_STALE_FROM.format(source=changed)),
            {"by": SYSTEM_ACTOR, "note": _STALE_NOTE},
        )
    source = "(" + " UNION ALL ".join(f"SELECT id, province_code FROM {s}" for s in sources)
    await session.execute(text("DROP TABLE IF EXISTS dedup_batch"))
    await session.execute(text(_BATCH_RECORDS.format(source=source + ") src")))
    parts = (await session.execute(text("SELECT DISTINCT part FROM dedup_batch"))).scalars()
    union = " UNION ALL ".join(
        _PAIRS_IN_PART.format(part=part, part_literal="'" + part.replace("'", "''") + "'")
        for part in parts
    )
    if not union:
        return 0
    pairs = (await session.execute(text(_PAIRS_FROM.format(union=union)))).all()
    await session.execute(text("DROP TABLE dedup_batch"))
    return await _queue(session, pairs)


async def _queue(session: AsyncSession, pairs: Sequence[Row[Any]]) -> int:
    """Score the pairs with the rules and store the candidates among them (new pairs only)."""
    found = []
    for p in pairs:
        score = rules.name_similarity(p.name_a, p.name_b)
        if not rules.is_candidate_pair(p.nib_a, p.nib_b, score):
            continue
        found.append(
            {
                "id": new_id(),
                "umkm_a": p.umkm_a,
                "umkm_b": p.umkm_b,
                "province_code": p.province_code,
                "regency_code": p.regency_code,
                "village_code": p.village_code,
                "score": score,
                "reason": rules.reason_of(p.nib_a, p.nib_b, score),
                "status": "open",
            }
        )
    added = 0
    for start in range(0, len(found), _INSERT_BATCH):
        stmt = (
            insert(DuplicateCandidate)
            .values(found[start : start + _INSERT_BATCH])
            .on_conflict_do_nothing(index_elements=["umkm_a", "umkm_b"])
            .returning(DuplicateCandidate.id)
        )
        added += len((await session.execute(stmt)).all())
    return added
