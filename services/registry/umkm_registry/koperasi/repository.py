"""Every koperasi query, including the wilayah filters that scope a Dinas."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Umkm
from ..repository import wilayah_condition
from .models import Koperasi, KoperasiMembership


def seat_condition(prefix: str) -> Any:
    """Koperasi seated in the wilayah `prefix` (any level) or in a part of it."""
    return or_(
        Koperasi.wilayah_code == prefix,
        Koperasi.wilayah_code.startswith(prefix + ".", autoescape=True),
    )


@dataclass(frozen=True)
class KoperasiFilters:
    wilayah: str | None = None
    types: Sequence[str] = ()
    q: str | None = None
    status: str | None = "active"


class KoperasiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- koperasi ---------------------------------------------------------------------------

    async def get(self, koperasi_id: uuid.UUID, *, lock: str | None = None) -> Koperasi | None:
        """`lock`: None, "share" (FOR SHARE) or "update" (FOR UPDATE)."""
        stmt = select(Koperasi).where(Koperasi.id == koperasi_id)
        if lock is not None:
            stmt = stmt.with_for_update(read=lock == "share")
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def insert(self, values: dict[str, Any]) -> uuid.UUID | None:
        """Insert a koperasi; None when its legal number is taken (no exception, no rollback)."""
        stmt = (
            insert(Koperasi)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Koperasi.legal_number])
            .returning(Koperasi.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def holder_of(self, legal_number: str) -> uuid.UUID | None:
        return await self.session.scalar(
            select(Koperasi.id).where(Koperasi.legal_number == legal_number)
        )

    async def update_versioned(
        self, row: Koperasi, expected_version: int, changes: dict[str, Any]
    ) -> bool:
        """Compare-and-set on `version` so two concurrent writers cannot both win."""
        stmt = (
            update(Koperasi)
            .where(Koperasi.id == row.id, Koperasi.version == expected_version)
            .values(**changes, version=Koperasi.version + 1, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        done = bool((await self.session.execute(stmt)).rowcount == 1)  # type: ignore[attr-defined]
        if done:
            await self.session.refresh(row)
        return done

    async def search(
        self, f: KoperasiFilters, *, scope: str | None, after: uuid.UUID | None, limit: int
    ) -> list[Koperasi]:
        stmt = select(Koperasi)
        if scope:
            stmt = stmt.where(seat_condition(scope))
        if f.wilayah:
            stmt = stmt.where(seat_condition(f.wilayah))
        if f.types:
            stmt = stmt.where(Koperasi.type.in_(list(f.types)))
        if f.status:
            stmt = stmt.where(Koperasi.status == f.status)
        if f.q:
            needle = " ".join(f.q.lower().split())
            stmt = stmt.where(
                or_(
                    Koperasi.name_search.contains(needle, autoescape=True),
                    Koperasi.legal_number.startswith(needle.upper(), autoescape=True),
                )
            )
        if after is not None:
            stmt = stmt.where(Koperasi.id > after)
        stmt = stmt.order_by(Koperasi.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    # --- memberships ------------------------------------------------------------------------

    async def umkm(self, umkm_id: uuid.UUID, *, share_lock: bool = False) -> Umkm | None:
        """The UMKM row; with `share_lock` a concurrent deactivation or merge waits for us."""
        stmt = select(Umkm).where(Umkm.id == umkm_id)
        if share_lock:
            stmt = stmt.with_for_update(read=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_membership(
        self, koperasi_id: uuid.UUID, umkm_id: uuid.UUID, *, for_update: bool = False
    ) -> KoperasiMembership | None:
        stmt = select(KoperasiMembership).where(
            KoperasiMembership.koperasi_id == koperasi_id,
            KoperasiMembership.umkm_id == umkm_id,
            KoperasiMembership.left_on.is_(None),
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def last_left_on(self, koperasi_id: uuid.UUID, umkm_id: uuid.UUID) -> date | None:
        """When the UMKM last left this koperasi (None if it never did)."""
        return await self.session.scalar(
            select(func.max(KoperasiMembership.left_on)).where(
                KoperasiMembership.koperasi_id == koperasi_id,
                KoperasiMembership.umkm_id == umkm_id,
            )
        )

    async def start_membership(self, values: dict[str, Any]) -> KoperasiMembership | None:
        """Open a membership; None when one is already open for the pair (partial unique index)."""
        stmt = (
            insert(KoperasiMembership)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=[KoperasiMembership.koperasi_id, KoperasiMembership.umkm_id],
                index_where=KoperasiMembership.left_on.is_(None),
            )
            .returning(KoperasiMembership.id)
        )
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if new_id is None:
            return None
        return await self.session.get(KoperasiMembership, new_id)

    async def end_membership(
        self, membership: KoperasiMembership, left_on: date, reason: str, by: str
    ) -> None:
        await self.session.execute(
            update(KoperasiMembership)
            .where(KoperasiMembership.id == membership.id, KoperasiMembership.left_on.is_(None))
            .values(left_on=left_on, left_reason=reason, ended_by=by, ended_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(membership)

    async def end_all_open(
        self, koperasi_id: uuid.UUID, left_on: date, reason: str, by: str
    ) -> list[KoperasiMembership]:
        """Close every open membership of a koperasi (on dissolution); returns the closed rows.

        A membership that started after `left_on` ends on its own start date."""
        stmt = (
            update(KoperasiMembership)
            .where(
                KoperasiMembership.koperasi_id == koperasi_id, KoperasiMembership.left_on.is_(None)
            )
            .values(
                left_on=func.greatest(KoperasiMembership.joined_on, left_on),
                left_reason=reason,
                ended_by=by,
                ended_at=datetime.now(UTC),
            )
            .returning(KoperasiMembership)
            .execution_options(synchronize_session=False)
        )
        rows = list((await self.session.execute(stmt)).scalars())
        return sorted(rows, key=lambda m: m.id)

    async def members(
        self,
        koperasi_id: uuid.UUID,
        *,
        include_history: bool,
        scope: str | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[tuple[KoperasiMembership, Umkm | None]]:
        """A koperasi's memberships in creation order with each member's UMKM row; `scope`
        keeps only members whose UMKM lies in that wilayah."""
        stmt = (
            select(KoperasiMembership, Umkm)
            .outerjoin(Umkm, Umkm.id == KoperasiMembership.umkm_id)
            .where(KoperasiMembership.koperasi_id == koperasi_id)
        )
        if not include_history:
            stmt = stmt.where(KoperasiMembership.left_on.is_(None))
        if scope:
            stmt = stmt.where(wilayah_condition(scope))
        if after is not None:
            stmt = stmt.where(KoperasiMembership.id > after)
        stmt = stmt.order_by(KoperasiMembership.id).limit(limit)
        return [(m, u) for m, u in (await self.session.execute(stmt)).all()]

    async def memberships_of(self, umkm_id: uuid.UUID) -> list[tuple[KoperasiMembership, Koperasi]]:
        """Every membership of an UMKM (history included), oldest first, with its koperasi."""
        stmt = (
            select(KoperasiMembership, Koperasi)
            .join(Koperasi, Koperasi.id == KoperasiMembership.koperasi_id)
            .where(KoperasiMembership.umkm_id == umkm_id)
            .order_by(KoperasiMembership.joined_on, KoperasiMembership.id)
        )
        return [(m, k) for m, k in (await self.session.execute(stmt)).all()]


__all__ = ["KoperasiFilters", "KoperasiRepository", "seat_condition"]
