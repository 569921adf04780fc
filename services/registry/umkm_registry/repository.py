"""Every registry query lives here, including the wilayah filter that scopes a Dinas."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import PiiAccessLog, ScaleHistory, Umkm, UmkmChange, UmkmNib


def wilayah_condition(prefix: str) -> Any:
    """Rows whose desa lies inside the dotted wilayah `prefix` (any level).

    The province equality lets PostgreSQL prune to one partition.
    """
    province = prefix[:2]
    if prefix.count(".") == 3:
        return and_(Umkm.province_code == province, Umkm.village_code == prefix)
    if len(prefix) == 2:
        return Umkm.province_code == province
    return and_(
        Umkm.province_code == province, Umkm.village_code.startswith(prefix + ".", autoescape=True)
    )


@dataclass(frozen=True)
class SearchFilters:
    wilayah: str | None = None
    kbli_prefix: str | None = None
    scales: Sequence[str] = ()
    has_nib: bool | None = None
    name: str | None = None
    status: str | None = "active"


def _apply(stmt: Select[Any], f: SearchFilters, scope: str | None) -> Select[Any]:
    if scope:
        stmt = stmt.where(wilayah_condition(scope))
    if f.wilayah:
        stmt = stmt.where(wilayah_condition(f.wilayah))
    if f.kbli_prefix:
        stmt = stmt.where(Umkm.kbli_code.startswith(f.kbli_prefix, autoescape=True))
    if f.scales:
        stmt = stmt.where(Umkm.scale.in_(list(f.scales)))
    if f.has_nib is not None:
        stmt = stmt.where(Umkm.nib.is_not(None) if f.has_nib else Umkm.nib.is_(None))
    if f.name:
        # trigram-indexed substring match on the normalised name
        stmt = stmt.where(
            Umkm.business_name_search.contains(" ".join(f.name.lower().split()), autoescape=True)
        )
    if f.status:
        stmt = stmt.where(Umkm.status == f.status)
    return stmt


class UmkmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, umkm_id: uuid.UUID, *, for_update: bool = False) -> Umkm | None:
        stmt = select(Umkm).where(Umkm.id == umkm_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, row: Umkm) -> None:
        self.session.add(row)
        await self.session.flush()

    async def claim_nib(self, nib: str, umkm_id: uuid.UUID, province_code: str) -> uuid.UUID | None:
        """Reserve an NIB for a business. Returns the other business's id when it is taken."""
        stmt = (
            insert(UmkmNib)
            .values(nib=nib, umkm_id=umkm_id, province_code=province_code)
            .on_conflict_do_nothing(index_elements=[UmkmNib.nib])
            .returning(UmkmNib.umkm_id)
        )
        if (await self.session.execute(stmt)).scalar_one_or_none() is not None:
            return None
        holder = await self.session.scalar(select(UmkmNib.umkm_id).where(UmkmNib.nib == nib))
        return None if holder == umkm_id else holder

    async def release_nib(self, nib: str, umkm_id: uuid.UUID) -> None:
        await self.session.execute(
            UmkmNib.__table__.delete().where(and_(UmkmNib.nib == nib, UmkmNib.umkm_id == umkm_id))
        )

    async def update_versioned(
        self, row: Umkm, expected_version: int, changes: dict[str, Any]
    ) -> bool:
        """Compare-and-set on `version` so two concurrent writers cannot both win."""
        stmt = (
            update(Umkm)
            .where(
                Umkm.province_code == row.province_code,
                Umkm.id == row.id,
                Umkm.version == expected_version,
            )
            .values(**changes, version=Umkm.version + 1, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        done = (await self.session.execute(stmt)).rowcount == 1
        if done:
            await self.session.refresh(row)
        return done

    async def search(
        self, f: SearchFilters, *, scope: str | None, after: uuid.UUID | None, limit: int
    ) -> list[Umkm]:
        stmt = _apply(select(Umkm), f, scope)
        if after is not None:
            stmt = stmt.where(Umkm.id > after)
        stmt = stmt.order_by(Umkm.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def counts(
        self, column: Any, f: SearchFilters, *, scope: str | None
    ) -> list[tuple[str, int]]:
        stmt = _apply(select(column.label("key"), func.count().label("n")), f, scope)
        stmt = stmt.group_by(column).order_by(column)
        return [(str(k), int(n)) for k, n in (await self.session.execute(stmt)).all()]

    async def add_scale_change(self, entry: ScaleHistory) -> None:
        self.session.add(entry)

    async def scale_history(self, umkm_id: uuid.UUID) -> list[ScaleHistory]:
        stmt = (
            select(ScaleHistory)
            .where(ScaleHistory.umkm_id == umkm_id)
            .order_by(ScaleHistory.changed_at, ScaleHistory.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def log_pii_access(self, entry: PiiAccessLog) -> None:
        self.session.add(entry)

    async def nik_holders(self, nik_hash: str, *, scope: str | None) -> list[Umkm]:
        stmt = select(Umkm).where(Umkm.owner_nik_hash == nik_hash)
        if scope:
            stmt = stmt.where(wilayah_condition(scope))
        return list((await self.session.execute(stmt.order_by(Umkm.id))).scalars())


# Rows of transactions older than every running one: a closed set that can no longer grow.
_FINISHED = UmkmChange.txid < text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


class ChangeRepository:
    """The change feed: written with every change, read by region with a (txid, seq) cursor."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, row: Umkm, change: str, merged_into: uuid.UUID | None = None) -> None:
        self.session.add(
            UmkmChange(
                umkm_id=row.id,
                province_code=row.province_code,
                regency_code=row.regency_code,
                change=change,
                version=row.version,
                merged_into=merged_into,
            )
        )

    async def read(
        self, wilayah: str | None, after: tuple[int, int], limit: int
    ) -> list[tuple[UmkmChange, Umkm | None]]:
        stmt = select(UmkmChange).where(_FINISHED, tuple_(UmkmChange.txid, UmkmChange.seq) > after)
        if wilayah is not None and len(wilayah) == 2:
            stmt = stmt.where(UmkmChange.province_code == wilayah)
        elif wilayah is not None:
            stmt = stmt.where(UmkmChange.regency_code == wilayah)
        stmt = stmt.order_by(UmkmChange.txid, UmkmChange.seq).limit(limit)
        changes = list((await self.session.execute(stmt)).scalars())
        ids = {c.umkm_id for c in changes}
        current = {}
        if ids:
            rows = await self.session.execute(select(Umkm).where(Umkm.id.in_(ids)))
            current = {r.id: r for r in rows.scalars()}
        return [(c, current.get(c.umkm_id)) for c in changes]
