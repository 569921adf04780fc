"""Review of duplicate candidates: list, merge, keep both. Works inside the caller's
transaction and never commits.

Lock order (no deadlocks between two merges sharing a record): the pair's records in id
order first, then the candidate row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from umkm_shared.errors import Conflict, Forbidden, NotFound, invalid
from umkm_shared.events.registry import UmkmMerged, UmkmUpdated
from umkm_shared.ids import new_id

from ..models import Umkm
from ..schemas import UmkmPatch
from ..service import RegistryService, row_dict, snapshot
from . import rules
from .detection import detect_candidates
from .models import DuplicateCandidate, MergeHistory
from .repository import DedupRepository
from .schemas import MergeBody, Step

FINAL = ("merged", "kept_both", "superseded")


def allowed_steps(candidate: DuplicateCandidate) -> list[Step]:
    return ["merge", "keep-both"] if candidate.status == "open" else []


class DedupService:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry
        self.session = registry.session
        self.actor = registry.actor
        self.repo = DedupRepository(registry.session)

    # --- access -----------------------------------------------------------------------------

    def check_filter(self, wilayah: str | None) -> None:
        """A wilayah filter must overlap the caller's wilayah (a wider one is narrowed to it)."""
        scope = self.registry.scope
        if (
            wilayah
            and scope
            and not (
                wilayah == scope
                or wilayah.startswith(scope + ".")
                or scope.startswith(wilayah + ".")
            )
        ):
            raise Forbidden(detail=f"wilayah {wilayah} is outside your wilayah {scope}")

    async def _visible(
        self, candidate_id: uuid.UUID, *, for_update: bool = False
    ) -> DuplicateCandidate:
        cand = await self.repo.get(candidate_id, for_update=for_update)
        if cand is None:
            raise NotFound(detail=f"duplicate candidate {candidate_id} does not exist")
        if not self.actor.can_access_wilayah(cand.village_code):
            raise Forbidden(
                detail=f"duplicate candidate {candidate_id} is in desa {cand.village_code}, "
                f"outside your wilayah {self.actor.wilayah}"
            )
        return cand

    @staticmethod
    def _require_open(cand: DuplicateCandidate) -> None:
        if cand.status != "open":
            raise Conflict(
                detail=f"duplicate candidate {cand.id} is already decided ({cand.status}"
                + (f" by {cand.decided_by}" if cand.decided_by else "")
                + "); decisions are final, no step is left",
                extra={"status": cand.status, "allowed": []},
            )

    # --- queries ----------------------------------------------------------------------------

    async def search(
        self, status: str | None, wilayah: str | None, after: uuid.UUID | None, limit: int
    ) -> tuple[list[DuplicateCandidate], dict[uuid.UUID, Umkm]]:
        self.check_filter(wilayah)
        cands = await self.repo.search(
            status=status, wilayah=wilayah, scope=self.registry.scope, after=after, limit=limit
        )
        records = await self.repo.records(i for c in cands for i in (c.umkm_a, c.umkm_b))
        return cands, records

    async def get(
        self, candidate_id: uuid.UUID
    ) -> tuple[DuplicateCandidate, dict[uuid.UUID, Umkm]]:
        cand = await self._visible(candidate_id)
        return cand, await self.repo.records((cand.umkm_a, cand.umkm_b))

    async def history(self, umkm_id: uuid.UUID) -> list[MergeHistory]:
        await self.registry.get(umkm_id)  # 404 / 403 like a read of the record
        return await self.repo.history(umkm_id)

    # --- decisions --------------------------------------------------------------------------

    async def keep_both(
        self, candidate_id: uuid.UUID
    ) -> tuple[DuplicateCandidate, dict[uuid.UUID, Umkm]]:
        cand = await self._visible(candidate_id, for_update=True)
        self._require_open(cand)
        cand.status = "kept_both"
        cand.decided_by = self.actor.client_id
        cand.decided_at = datetime.now(UTC)
        await self.session.flush()
        return cand, await self.repo.records((cand.umkm_a, cand.umkm_b))

    async def merge(
        self, candidate_id: uuid.UUID, body: MergeBody
    ) -> tuple[DuplicateCandidate, Umkm, Umkm]:
        cand = await self._visible(candidate_id)
        self._require_open(cand)
        survivor_id = body.survivor or (cand.umkm_a if body.keep == "a" else cand.umkm_b)
        if survivor_id not in (cand.umkm_a, cand.umkm_b):
            raise invalid(
                "body.survivor",
                f"must be one of the pair: {cand.umkm_a} (a) or {cand.umkm_b} (b)",
                str(survivor_id),
            )
        merged_id = cand.umkm_b if survivor_id == cand.umkm_a else cand.umkm_a
        rows = await self.repo.lock_records((cand.umkm_a, cand.umkm_b))
        locked = await self.repo.get(candidate_id, for_update=True)
        assert locked is not None  # candidates are never deleted
        cand = locked
        self._require_open(cand)
        survivor, merged = rows[survivor_id], rows[merged_id]
        for row in (survivor, merged):
            if not self.actor.can_access_wilayah(row.village_code):
                raise Forbidden(
                    detail=f"UMKM {row.id} is outside your wilayah {self.actor.wilayah}"
                )
            if row.status != "active":
                raise Conflict(
                    detail=f"UMKM {row.id} is {row.status}: only active records can be merged; "
                    "keep both to close the candidate",
                    extra={"status": cand.status, "allowed": ["keep-both"]},
                )
        if survivor.nib and merged.nib:
            raise Conflict(
                detail=f"both records have an NIB ({survivor.nib}, {merged.nib}): two businesses "
                "by law, they cannot be merged; keep both to close the candidate",
                extra={"status": cand.status, "allowed": ["keep-both"]},
            )
        await self._merge_records(cand, survivor, merged)
        return cand, survivor, merged

    async def _merge_records(self, cand: DuplicateCandidate, survivor: Umkm, merged: Umkm) -> None:
        registry, by, now = self.registry, self.actor.client_id, datetime.now(UTC)
        survivor_before = snapshot(survivor).model_dump(mode="json")
        merged_record = snapshot(merged).model_dump(mode="json") | {"created_by": merged.created_by}
        fill = rules.merge_fill(row_dict(survivor), row_dict(merged))
        survivor_version = survivor.version

        # 1. The merged record ends: status merged, pointing at the survivor; its NIB moves.
        if merged.nib:
            await registry.repo.release_nib(merged.nib, merged.id)
        await registry.repo.update_versioned(
            merged,
            merged.version,
            {
                "status": "merged",
                "merged_into": survivor.id,
                "nib": None,
                "deactivated_at": now,
                "deactivation_reason": f"merged into {survivor.id} (duplicate)",
            },
        )
        await registry.changes.record(merged, "merged", merged_into=survivor.id)
        from ..koperasi.service import end_memberships_of_umkm  # the merged record retires

        await end_memberships_of_umkm(
            self.session,
            registry.outbox,
            merged.id,
            now.date(),
            "merged as a duplicate",
            registry.actor.client_id,
        )
        await registry.outbox.enqueue(
            self.session,
            UmkmMerged(
                merged_id=merged.id,
                survivor_id=survivor.id,
                province_code=merged.province_code,
                village_code=merged.village_code,
                merged_version=merged.version,
                survivor_version=survivor_version + 1,
                merged_at=now,
            ),
            subject=str(merged.id),
        )

        # 2. The survivor takes what it lacked (the usual update: NIB claim, scale history,
        #    change feed, UmkmUpdated); with nothing to take it still gets a new version.
        if fill:
            await registry.update(survivor.id, UmkmPatch.model_validate(fill), survivor_version)
        if survivor.version == survivor_version:
            await registry.repo.update_versioned(survivor, survivor_version, {})
            await registry.changes.record(survivor, "updated")
            await registry.outbox.enqueue(
                self.session,
                UmkmUpdated(umkm=snapshot(survivor), changed_fields=[]),
                subject=str(survivor.id),
            )

        # 3. History and the decision.
        await self.repo.add_history(
            MergeHistory(
                id=new_id(),
                candidate_id=cand.id,
                survivor_id=survivor.id,
                merged_id=merged.id,
                province_code=merged.province_code,
                merged_record=merged_record,
                survivor_before=survivor_before,
                filled_fields=sorted(fill),
                decided_by=by,
                merged_at=now,
            )
        )
        cand.status = "merged"
        cand.survivor_id = survivor.id
        cand.decided_by = by
        cand.decided_at = now
        await self.session.flush()

        # 4. Other candidates: those of the merged record are closed and re-detected against
        #    the survivor; the survivor's own that became impossible (two NIBs) are closed.
        note = f"UMKM {merged.id} was merged into {survivor.id}"
        await self.repo.supersede_involving(merged.id, except_id=cand.id, note=note, by=by, at=now)
        await self.repo.close_impossible(survivor.id, note=note, by=by, at=now)
        await detect_candidates(self.session, [survivor.id])


__all__ = ["FINAL", "DedupService", "allowed_steps"]
