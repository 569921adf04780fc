"""Every dedup query: the review queue (region-scoped like the records), locks, closing
candidates a merge made moot, and merge history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Umkm
from .models import DuplicateCandidate, MergeHistory

DC = DuplicateCandidate


def candidate_region(prefix: str) -> Any:
    """Candidates in the desa of wilayah `prefix` (province, kab/kota, kecamatan or desa)."""
    province = DC.province_code == prefix[:2]
    dots = prefix.count(".")
    if dots == 0:
        return province
    if dots == 1:
        return and_(province, DC.regency_code == prefix)
    if dots == 2:
        return and_(province, DC.village_code.startswith(prefix + ".", autoescape=True))
    return and_(province, DC.village_code == prefix)


# Open candidates of :id whose pair a change made impossible: the other record is no longer
# active, or both now have an NIB (two NIBs are two businesses).
_CLOSE_IMPOSSIBLE = text(
    """
    UPDATE duplicate_candidates dc
       SET status = 'superseded', note = :note, decided_by = :by, decided_at = :at
      FROM umkm s, umkm o
     WHERE dc.status = 'open'
       AND (dc.umkm_a = :id OR dc.umkm_b = :id)
       AND s.id = :id
       AND o.id = CASE WHEN dc.umkm_a = :id THEN dc.umkm_b ELSE dc.umkm_a END
       AND (o.status <> 'active' OR s.status <> 'active'
            OR (s.nib IS NOT NULL AND o.nib IS NOT NULL))
    """
)


class DedupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, candidate_id: uuid.UUID, *, for_update: bool = False) -> DC | None:
        stmt = select(DC).where(DC.id == candidate_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def search(
        self,
        *,
        status: str | None,
        wilayah: str | None,
        scope: str | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[DC]:
        stmt = select(DC)
        if scope:
            stmt = stmt.where(candidate_region(scope))
        if wilayah:
            stmt = stmt.where(candidate_region(wilayah))
        if status:
            stmt = stmt.where(DC.status == status)
        if after is not None:
            stmt = stmt.where(DC.id > after)
        stmt = stmt.order_by(DC.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def records(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Umkm]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.session.execute(select(Umkm).where(Umkm.id.in_(wanted)))
        return {r.id: r for r in rows.scalars()}

    async def lock_records(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Umkm]:
        """Lock the records in id order (so two merges sharing a record cannot deadlock)."""
        stmt = (
            select(Umkm)
            .where(Umkm.id.in_(sorted(set(ids))))
            .order_by(Umkm.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {r.id: r for r in (await self.session.execute(stmt)).scalars()}

    async def supersede_involving(
        self, umkm_id: uuid.UUID, *, except_id: uuid.UUID, note: str, by: str, at: datetime
    ) -> int:
        """Close the other open candidates of a record that was merged away."""
        stmt = (
            update(DC)
            .where(
                DC.status == "open",
                or_(DC.umkm_a == umkm_id, DC.umkm_b == umkm_id),
                DC.id != except_id,
            )
            .values(status="superseded", note=note, decided_by=by, decided_at=at)
            .execution_options(synchronize_session=False)
        )
        return int((await self.session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]

    async def close_impossible(
        self, umkm_id: uuid.UUID, *, note: str, by: str, at: datetime
    ) -> int:
        result = await self.session.execute(
            _CLOSE_IMPOSSIBLE, {"id": umkm_id, "note": note, "by": by, "at": at}
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def add_history(self, entry: MergeHistory) -> None:
        self.session.add(entry)

    async def history(self, umkm_id: uuid.UUID) -> list[MergeHistory]:
        stmt = (
            select(MergeHistory)
            .where(or_(MergeHistory.survivor_id == umkm_id, MergeHistory.merged_id == umkm_id))
            .order_by(MergeHistory.merged_at, MergeHistory.id)
        )
        return list((await self.session.execute(stmt)).scalars())
