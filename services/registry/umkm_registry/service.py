"""Registry use cases. They work inside the caller's transaction and never commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor
from umkm_shared.crypto import NikVault
from umkm_shared.errors import Conflict, Forbidden, NotFound, PreconditionFailed, invalid
from umkm_shared.events.registry import (
    Certification as CertificationEvent,
)
from umkm_shared.events.registry import (
    KbliRef,
    UmkmDeactivated,
    UmkmRegistered,
    UmkmScaleChanged,
    UmkmSnapshot,
    UmkmUpdated,
)
from umkm_shared.ids import new_id
from umkm_shared.messaging.outbox import Outbox

from . import domain
from .dedup import detect_candidates
from .models import PiiAccessLog, ScaleHistory, Umkm
from .repository import ChangeRepository, SearchFilters, UmkmRepository
from .schemas import UmkmCreate, UmkmPatch


def snapshot(row: Umkm) -> UmkmSnapshot:
    return UmkmSnapshot(
        umkm_id=row.id,
        business_name=row.business_name,
        owner_name=row.owner_name,
        owner_nik_hash=row.owner_nik_hash,
        owner_nik_masked=row.owner_nik_masked,
        nib=row.nib,
        npwp=row.npwp,
        kbli_primary=KbliRef(version=row.kbli_version, code=row.kbli_code),
        kbli_others=[KbliRef(**k) for k in row.kbli_others],
        village_code=row.village_code,
        district_code=row.district_code,
        regency_code=row.regency_code,
        province_code=row.province_code,
        latitude=row.latitude,
        longitude=row.longitude,
        location_approximate=row.location_approximate,
        address=row.address,
        capital_idr=row.capital_idr,
        annual_sales_idr=row.annual_sales_idr,
        scale=row.scale,
        workforce=row.workforce,
        founded_on=row.founded_on,
        products=list(row.products),
        certifications=[CertificationEvent(**c) for c in row.certifications],
        status=row.status,
        version=row.version,
        registered_at=row.created_at,
        updated_at=row.updated_at,
    )


def row_dict(row: Umkm) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in Umkm.__table__.columns}


class RegistryService:
    def __init__(
        self, session: AsyncSession, actor: Actor, vault: NikVault, outbox: Outbox
    ) -> None:
        self.session = session
        self.actor = actor
        self.vault = vault
        self.outbox = outbox
        self.repo = UmkmRepository(session)
        self.changes = ChangeRepository(session)

    # --- access -----------------------------------------------------------------------------

    @property
    def scope(self) -> str | None:
        """The wilayah prefix every query is limited to (None for the ministry)."""
        return self.actor.wilayah if self.actor.kind == "dinas" else None

    def _check_wilayah(self, village_code: str, field: str = "body.village_code") -> None:
        if not self.actor.can_access_wilayah(village_code):
            raise Forbidden(
                detail=f"{field} {village_code} is outside your wilayah {self.actor.wilayah}",
                extra={"field": field, "wilayah": self.actor.wilayah},
            )

    async def _visible(self, umkm_id: uuid.UUID, *, for_update: bool = False) -> Umkm:
        row = await self.repo.get(umkm_id, for_update=for_update)
        if row is None:
            raise NotFound(detail=f"UMKM {umkm_id} does not exist")
        if not self.actor.can_access_wilayah(row.village_code):
            raise Forbidden(detail=f"UMKM {umkm_id} is outside your wilayah {self.actor.wilayah}")
        return row

    async def _record_scale(self, row: Umkm, previous: str | None, at: datetime) -> None:
        """Append the record's current scale to its history ("naik kelas")."""
        _, basis = domain.scale_of(row.capital_idr, row.annual_sales_idr)
        await self.repo.add_scale_change(
            ScaleHistory(
                id=new_id(),
                umkm_id=row.id,
                province_code=row.province_code,
                previous_scale=previous,
                new_scale=row.scale,
                capital_idr=row.capital_idr,
                annual_sales_idr=row.annual_sales_idr,
                basis=basis,
                changed_at=at,
                changed_by=self.actor.client_id,
            )
        )

    # --- commands ---------------------------------------------------------------------------

    async def register(self, body: UmkmCreate) -> Umkm:
        self._check_wilayah(body.village_code)
        fields = domain.new_record_fields(body)
        if fields["scale"] == "besar":
            raise invalid(
                "body.capital_idr",
                "capital or sales make this a usaha besar (above menengah): not an UMKM",
            )
        now = datetime.now(UTC)
        row = Umkm(
            id=new_id(),
            **fields,
            owner_nik_encrypted=self.vault.encrypt(body.owner_nik),
            owner_nik_hash=self.vault.lookup_hash(body.owner_nik),
            owner_nik_masked=self.vault.mask(body.owner_nik),
            status="active",
            version=1,
            created_by=self.actor.client_id,
            created_at=now,
            updated_at=now,
        )
        if body.nib:
            holder = await self.repo.claim_nib(body.nib, row.id, row.province_code)
            if holder is not None:
                raise Conflict(
                    detail=f"NIB {body.nib} is already registered to UMKM {holder}",
                    extra={"field": "body.nib", "existing_id": str(holder)},
                )
        await self.repo.add(row)
        await self.changes.record(row, "registered")
        await detect_candidates(self.session, [row.id])  # queue possible duplicates for review
        await self._record_scale(row, None, now)
        await self.outbox.enqueue(
            self.session, UmkmRegistered(umkm=snapshot(row)), subject=str(row.id)
        )
        return row

    async def update(self, umkm_id: uuid.UUID, patch: UmkmPatch, if_match: int | None) -> Umkm:
        row = await self._visible(umkm_id, for_update=True)
        if row.status != "active":
            raise Conflict(detail=f"UMKM {umkm_id} is {row.status}; only active records can change")
        if_match = domain.expect_version(row.version, if_match)
        if patch.village_code:
            self._check_wilayah(patch.village_code)
        current = row_dict(row)
        changes = domain.patch_changes(current, patch)
        if "owner_nik" in patch.model_fields_set and patch.owner_nik:
            nik_hash = self.vault.lookup_hash(patch.owner_nik)
            if nik_hash != row.owner_nik_hash:
                changes.update(
                    owner_nik_encrypted=self.vault.encrypt(patch.owner_nik),
                    owner_nik_hash=nik_hash,
                    owner_nik_masked=self.vault.mask(patch.owner_nik),
                )
        if not changes:
            return row
        if "nib" in changes:
            if row.nib:
                await self.repo.release_nib(row.nib, row.id)
            if changes["nib"]:
                holder = await self.repo.claim_nib(
                    changes["nib"], row.id, changes.get("province_code", row.province_code)
                )
                if holder is not None:
                    raise Conflict(
                        detail=f"NIB {changes['nib']} is already registered to UMKM {holder}",
                        extra={"field": "body.nib", "existing_id": str(holder)},
                    )
        previous_scale = row.scale
        if not await self.repo.update_versioned(row, if_match, changes):
            raise PreconditionFailed(detail="the record changed meanwhile; read it again")
        changed_fields = sorted(
            k for k in changes if not k.startswith("owner_nik_") and k != "business_name_search"
        )
        if any(k.startswith("owner_nik_") for k in changes):
            changed_fields.append("owner_nik")
        await self.changes.record(row, "updated")
        await self.outbox.enqueue(
            self.session,
            UmkmUpdated(umkm=snapshot(row), changed_fields=changed_fields),
            subject=str(row.id),
        )
        if changes.keys() & {"owner_nik_hash", "business_name", "village_code"}:
            await detect_candidates(self.session, [row.id])  # queue possible duplicates for review
        if row.scale != previous_scale:
            await self._record_scale(row, previous_scale, row.updated_at)
            await self.outbox.enqueue(
                self.session,
                UmkmScaleChanged(
                    umkm_id=row.id,
                    province_code=row.province_code,
                    previous_scale=previous_scale,
                    new_scale=row.scale,
                    capital_idr=row.capital_idr,
                    annual_sales_idr=row.annual_sales_idr,
                    changed_at=row.updated_at,
                ),
                subject=str(row.id),
            )
        return row

    async def deactivate(self, umkm_id: uuid.UUID, reason: str, if_match: int | None) -> Umkm:
        row = await self._visible(umkm_id, for_update=True)
        if row.status != "active":
            raise Conflict(detail=f"UMKM {umkm_id} is already {row.status}", extra={"allowed": []})
        domain.expect_version(row.version, if_match)
        now = datetime.now(UTC)
        await self.repo.update_versioned(
            row,
            row.version,
            {"status": "inactive", "deactivated_at": now, "deactivation_reason": reason},
        )
        await self.changes.record(row, "deactivated")
        from .koperasi.service import end_memberships_of_umkm  # koperasi builds on this module

        await end_memberships_of_umkm(
            self.session, self.outbox, row.id, now.date(), "UMKM deactivated", self.actor.client_id
        )
        await self.outbox.enqueue(
            self.session,
            UmkmDeactivated(
                umkm_id=row.id,
                province_code=row.province_code,
                village_code=row.village_code,
                reason=reason,
                deactivated_at=now,
            ),
            subject=str(row.id),
        )
        return row

    # --- queries ----------------------------------------------------------------------------

    async def get(self, umkm_id: uuid.UUID) -> Umkm:
        return await self._visible(umkm_id)

    async def search(
        self, filters: SearchFilters, after: uuid.UUID | None, limit: int
    ) -> list[Umkm]:
        if (
            filters.wilayah
            and self.scope
            and not (
                filters.wilayah == self.scope
                or filters.wilayah.startswith(self.scope + ".")
                or self.scope.startswith(filters.wilayah + ".")
            )
        ):
            raise Forbidden(
                detail=f"wilayah {filters.wilayah} is outside your wilayah {self.scope}"
            )
        return await self.repo.search(filters, scope=self.scope, after=after, limit=limit)

    def feed_wilayah(self, wilayah: str | None) -> str | None:
        """The region a change-feed read covers: the caller's own, or a part of it."""
        if wilayah is None:
            return self.scope
        if wilayah.count(".") > 1:
            raise invalid(
                "query.wilayah", "the change feed is by province or kabupaten/kota", wilayah
            )
        if self.scope and not (wilayah == self.scope or wilayah.startswith(self.scope + ".")):
            raise Forbidden(detail=f"wilayah {wilayah} is outside your wilayah {self.scope}")
        return wilayah

    async def scale_history(self, umkm_id: uuid.UUID) -> list[ScaleHistory]:
        await self._visible(umkm_id)
        return await self.repo.scale_history(umkm_id)

    async def reveal_nik(self, umkm_id: uuid.UUID, purpose: str | None) -> str:
        row = await self._visible(umkm_id)
        await self.repo.log_pii_access(
            PiiAccessLog(
                id=new_id(),
                umkm_id=row.id,
                client_id=self.actor.client_id,
                actor_kind=self.actor.kind,
                purpose=purpose,
            )
        )
        return self.vault.decrypt(row.owner_nik_encrypted)
