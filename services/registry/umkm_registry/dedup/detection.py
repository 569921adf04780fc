"""Finding duplicate candidates, set-based: one query per call, whatever the number of ids.

Called after a registration, after a change of owner NIK / name / desa, after a merge (for the
survivor) and by the bulk import with the ids each chunk inserted.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Uuid, bindparam, text
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
