"""Koperasi use cases. They work inside the caller's transaction and never commit.

Access (see docs/koperasi.md):
- ministry: everything;
- Dinas: koperasi seated in its wilayah (read, register, change); memberships of UMKM in its
  wilayah (join, leave, read), whatever the koperasi's seat;
- koperasi (actor_id = its koperasi id): reads its own record and its own members, nothing else.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind
from umkm_shared.errors import Conflict, Forbidden, NotFound, PreconditionFailed, invalid
from umkm_shared.events.koperasi import (
    KoperasiMembershipEnded,
    KoperasiMembershipStarted,
    KoperasiRegistered,
    KoperasiSnapshot,
    KoperasiUpdated,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.outbox import Outbox

from ..domain import expect_version, search_text
from ..models import Umkm
from . import domain
from .models import Koperasi, KoperasiMembership
from .repository import KoperasiFilters, KoperasiRepository
from .schemas import JoinRequest, KoperasiCreate, KoperasiPatch, LeaveRequest

DISSOLVED_REASON = "koperasi dissolved"


def snapshot(row: Koperasi) -> KoperasiSnapshot:
    return KoperasiSnapshot(
        koperasi_id=row.id,
        name=row.name,
        legal_number=row.legal_number,
        type=row.type,
        wilayah_code=row.wilayah_code,
        regency_code=row.regency_code,
        province_code=row.province_code,
        address=row.address,
        status=row.status,
        dissolved_on=row.dissolved_on,
        version=row.version,
        registered_at=row.created_at,
        updated_at=row.updated_at,
    )


def ended_event(m: KoperasiMembership, cause: str = "left") -> KoperasiMembershipEnded:
    assert m.left_on is not None and m.left_reason is not None and m.ended_at is not None
    return KoperasiMembershipEnded(
        membership_id=m.id,
        umkm_id=m.umkm_id,
        koperasi_id=m.koperasi_id,
        joined_on=m.joined_on,
        left_on=m.left_on,
        reason=m.left_reason,
        cause=cause,
        ended_at=m.ended_at,
    )


class KoperasiService:
    def __init__(self, session: AsyncSession, actor: Actor, outbox: Outbox) -> None:
        self.session = session
        self.actor = actor
        self.outbox = outbox
        self.repo = KoperasiRepository(session)

    # --- access -----------------------------------------------------------------------------

    @property
    def scope(self) -> str | None:
        """The wilayah prefix a Dinas is limited to (None for the ministry)."""
        return self.actor.wilayah if self.actor.kind is ActorKind.DINAS else None

    def _own_koperasi(self, koperasi_id: uuid.UUID) -> bool:
        try:
            return uuid.UUID(self.actor.actor_id or "") == koperasi_id
        except ValueError:
            return False

    def _check_seat(self, code: str, field: str = "body.wilayah_code") -> None:
        if not self.actor.can_access_wilayah(code):
            raise Forbidden(
                detail=f"{field} {code} is outside your wilayah {self.actor.wilayah}",
                extra={"field": field, "wilayah": self.actor.wilayah},
            )

    async def _visible(self, koperasi_id: uuid.UUID, *, lock: str | None = None) -> Koperasi:
        """The koperasi if the caller may read it: 403 for another koperasi (decided before
        any lookup, so it says nothing about whether the id exists), 404, 403 outside a
        Dinas's wilayah."""
        if self.actor.kind is ActorKind.KOPERASI and not self._own_koperasi(koperasi_id):
            raise Forbidden(detail="A koperasi may read only its own record and members.")
        row = await self.repo.get(koperasi_id, lock=lock)
        if row is None:
            raise NotFound(detail=f"koperasi {koperasi_id} does not exist")
        if self.actor.kind is ActorKind.DINAS and not self.actor.can_access_wilayah(
            row.wilayah_code
        ):
            raise Forbidden(
                detail=f"koperasi {koperasi_id} is seated outside your wilayah {self.actor.wilayah}"
            )
        return row

    async def _umkm_in_scope(
        self, umkm_id: uuid.UUID, *, share_lock: bool = False, field: str | None = None
    ) -> Umkm:
        row = await self.repo.umkm(umkm_id, share_lock=share_lock)
        if row is None:
            if field is not None:
                raise invalid(field, f"UMKM {umkm_id} does not exist", str(umkm_id))
            raise NotFound(detail=f"UMKM {umkm_id} does not exist")
        if not self.actor.can_access_wilayah(row.village_code):
            raise Forbidden(detail=f"UMKM {umkm_id} is outside your wilayah {self.actor.wilayah}")
        return row

    # --- koperasi ---------------------------------------------------------------------------

    async def register(self, body: KoperasiCreate) -> Koperasi:
        self._check_seat(body.wilayah_code)
        province, regency = domain.seat_parts(body.wilayah_code)
        now = datetime.now(UTC)
        koperasi_id = await self.repo.insert(
            {
                "id": new_id(),
                "name": body.name,
                "name_search": search_text(body.name),
                "legal_number": body.legal_number,
                "type": body.type.value,
                "wilayah_code": body.wilayah_code,
                "province_code": province,
                "regency_code": regency,
                "address": body.address,
                "status": "active",
                "version": 1,
                "created_by": self.actor.client_id,
                "created_at": now,
                "updated_at": now,
            }
        )
        if koperasi_id is None:
            holder = await self.repo.holder_of(body.legal_number)
            raise Conflict(
                detail=f"nomor badan hukum {body.legal_number} is already registered "
                f"to koperasi {holder}",
                extra={"field": "body.legal_number", "existing_id": str(holder)},
            )
        row = await self.repo.get(koperasi_id)
        assert row is not None
        await self.outbox.enqueue(
            self.session, KoperasiRegistered(koperasi=snapshot(row)), subject=str(row.id)
        )
        return row

    async def get(self, koperasi_id: uuid.UUID) -> Koperasi:
        return await self._visible(koperasi_id)

    async def search(
        self, f: KoperasiFilters, after: uuid.UUID | None, limit: int
    ) -> list[Koperasi]:
        scope = self.scope
        if (
            f.wilayah
            and scope
            and not (
                f.wilayah == scope
                or f.wilayah.startswith(scope + ".")
                or scope.startswith(f.wilayah + ".")
            )
        ):
            raise Forbidden(detail=f"wilayah {f.wilayah} is outside your wilayah {scope}")
        return await self.repo.search(f, scope=scope, after=after, limit=limit)

    async def update(
        self, koperasi_id: uuid.UUID, patch: KoperasiPatch, if_match: int | None
    ) -> Koperasi:
        row = await self._visible(koperasi_id, lock="update")
        if row.status != "active":
            raise Conflict(
                detail=f"koperasi {koperasi_id} is {row.status}: a dissolved koperasi is final",
                extra={"allowed": []},
            )
        if_match = expect_version(row.version, if_match)
        given = patch.model_fields_set
        changes: dict[str, Any] = {}
        if "name" in given and patch.name is not None and patch.name != row.name:
            changes.update(name=patch.name, name_search=search_text(patch.name))
        if "type" in given and patch.type is not None and patch.type.value != row.type:
            changes["type"] = patch.type.value
        if "address" in given and patch.address != row.address:
            changes["address"] = patch.address
        if (
            "wilayah_code" in given
            and patch.wilayah_code
            and patch.wilayah_code != row.wilayah_code
        ):
            self._check_seat(patch.wilayah_code)
            province, regency = domain.seat_parts(patch.wilayah_code)
            changes.update(
                wilayah_code=patch.wilayah_code, province_code=province, regency_code=regency
            )
        if (
            "legal_number" in given
            and patch.legal_number
            and patch.legal_number != row.legal_number
        ):
            holder = await self.repo.holder_of(patch.legal_number)
            if holder is not None:
                raise Conflict(
                    detail=f"nomor badan hukum {patch.legal_number} is already registered "
                    f"to koperasi {holder}",
                    extra={"field": "body.legal_number", "existing_id": str(holder)},
                )
            changes["legal_number"] = patch.legal_number
        dissolving = patch.status == "dissolved"
        if dissolving:
            dissolved_on = patch.dissolved_on or domain.today_wib()
            latest_join = await self.session.scalar(
                select(func.max(KoperasiMembership.joined_on)).where(
                    KoperasiMembership.koperasi_id == row.id, KoperasiMembership.left_on.is_(None)
                )
            )
            if latest_join is not None and latest_join > dissolved_on:
                raise invalid(
                    "body.dissolved_on",
                    f"a current member joined on {latest_join.isoformat()}, "
                    f"after {dissolved_on.isoformat()}",
                    dissolved_on.isoformat(),
                )
            changes.update(status="dissolved", dissolved_on=dissolved_on)
        if not changes:
            return row
        try:
            # a savepoint: a racing claim of the legal number is a 409, not a 500
            async with self.session.begin_nested():
                done = await self.repo.update_versioned(row, if_match, changes)
        except IntegrityError as e:
            raise Conflict(
                detail=f"nomor badan hukum {changes.get('legal_number')} was registered meanwhile",
                extra={"field": "body.legal_number"},
            ) from e
        if not done:
            raise PreconditionFailed(detail="the koperasi changed meanwhile; read it again")
        changed_fields = sorted(
            k for k in changes if k not in ("name_search", "province_code", "regency_code")
        )
        await self.outbox.enqueue(
            self.session,
            KoperasiUpdated(koperasi=snapshot(row), changed_fields=changed_fields),
            subject=str(row.id),
        )
        if dissolving:
            assert row.dissolved_on is not None
            ended = await self.repo.end_all_open(
                row.id, row.dissolved_on, DISSOLVED_REASON, self.actor.client_id
            )
            await self.outbox.enqueue_many(
                self.session, [ended_event(m, "koperasi_dissolved") for m in ended]
            )
        return row

    # --- memberships ------------------------------------------------------------------------

    async def join(
        self, koperasi_id: uuid.UUID, body: JoinRequest
    ) -> tuple[KoperasiMembership, Umkm]:
        """Make an UMKM a member. The caller must cover the UMKM (a Dinas: its wilayah); the
        koperasi may be seated anywhere. Both rows are share-locked, so a concurrent
        dissolution or deactivation cannot slip in between the checks and the insert."""
        koperasi = await self.repo.get(koperasi_id, lock="share")
        if koperasi is None:
            raise NotFound(detail=f"koperasi {koperasi_id} does not exist")
        umkm = await self._umkm_in_scope(body.umkm_id, share_lock=True, field="body.umkm_id")
        if koperasi.status != "active":
            raise Conflict(
                detail=f"koperasi {koperasi_id} is dissolved (since {koperasi.dissolved_on}): "
                "it takes no members",
                extra={"allowed": []},
            )
        if umkm.status != "active":
            raise Conflict(
                detail=f"UMKM {umkm.id} is {umkm.status}; only an active UMKM can join a koperasi",
                extra={"field": "body.umkm_id", "umkm_status": umkm.status},
            )
        last_left = await self.repo.last_left_on(koperasi_id, umkm.id)
        if last_left is not None and body.joined_on < last_left:
            raise invalid(
                "body.joined_on",
                f"the UMKM's previous membership ended on {last_left.isoformat()}; "
                "a new one cannot start before that",
                body.joined_on.isoformat(),
            )
        membership = await self.repo.start_membership(
            {
                "id": new_id(),
                "koperasi_id": koperasi_id,
                "umkm_id": umkm.id,
                "joined_on": body.joined_on,
                "created_by": self.actor.client_id,
                "created_at": datetime.now(UTC),
            }
        )
        if membership is None:
            current = await self.repo.open_membership(koperasi_id, umkm.id)
            since = current.joined_on.isoformat() if current else "?"
            raise Conflict(
                detail=f"UMKM {umkm.id} is already a member of koperasi {koperasi_id} "
                f"(since {since})",
                extra={"membership_id": str(current.id) if current else None, "allowed": ["leave"]},
            )
        await self.outbox.enqueue(
            self.session,
            KoperasiMembershipStarted(
                membership_id=membership.id,
                umkm_id=umkm.id,
                koperasi_id=koperasi_id,
                koperasi_type=koperasi.type,
                umkm_province_code=umkm.province_code,
                joined_on=membership.joined_on,
                started_at=membership.created_at,
            ),
        )
        return membership, umkm

    async def leave(
        self, koperasi_id: uuid.UUID, umkm_id: uuid.UUID, body: LeaveRequest
    ) -> tuple[KoperasiMembership, Umkm]:
        if await self.repo.get(koperasi_id) is None:
            raise NotFound(detail=f"koperasi {koperasi_id} does not exist")
        umkm = await self._umkm_in_scope(umkm_id)
        membership = await self.repo.open_membership(koperasi_id, umkm_id, for_update=True)
        if membership is None:
            raise Conflict(
                detail=f"UMKM {umkm_id} is not a member of koperasi {koperasi_id}",
                extra={"allowed": ["join"]},
            )
        if body.left_on < membership.joined_on:
            raise invalid(
                "body.left_on",
                f"left_on is before the membership started ({membership.joined_on.isoformat()})",
                body.left_on.isoformat(),
            )
        await self.repo.end_membership(membership, body.left_on, body.reason, self.actor.client_id)
        await self.outbox.enqueue(self.session, ended_event(membership))
        return membership, umkm

    async def members(
        self, koperasi_id: uuid.UUID, *, include_history: bool, after: uuid.UUID | None, limit: int
    ) -> list[tuple[KoperasiMembership, Umkm | None]]:
        """A koperasi's members. A Dinas sees only the members whose UMKM lies in its wilayah
        (it never sees UMKM of other regions); the koperasi itself and the ministry see all."""
        await self._visible(koperasi_id)
        return await self.repo.members(
            koperasi_id, include_history=include_history, scope=self.scope, after=after, limit=limit
        )

    async def memberships_of(self, umkm_id: uuid.UUID) -> list[tuple[KoperasiMembership, Koperasi]]:
        await self._umkm_in_scope(umkm_id)
        return await self.repo.memberships_of(umkm_id)


async def end_memberships_of_umkm(
    session: AsyncSession, outbox: Outbox, umkm_id: uuid.UUID, left_on: date, reason: str, by: str
) -> list[KoperasiMembership]:
    """Close every open membership of an UMKM (for callers that retire a record, e.g. a
    dedup merge or a deactivation); writes the events. Deactivation calls it."""
    stmt = (
        select(KoperasiMembership)
        .where(KoperasiMembership.umkm_id == umkm_id, KoperasiMembership.left_on.is_(None))
        .order_by(KoperasiMembership.id)
        .with_for_update()
    )
    repo = KoperasiRepository(session)
    ended = []
    for m in (await session.execute(stmt)).scalars():
        await repo.end_membership(m, max(left_on, m.joined_on), reason, by)
        ended.append(m)
    for m in ended:
        await outbox.enqueue(session, ended_event(m))
    return ended
