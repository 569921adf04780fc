"""HTTP endpoints of the duplicate review queue: a Dinas sees and decides the candidates of its
wilayah, the ministry all of them. Decisions are final; nothing is merged without one."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from umkm_shared.errors import invalid
from umkm_shared.idempotency import OptionalIdempotencyDep
from umkm_shared.pagination import Page, decode_cursor, encode_cursor
from umkm_shared.web import problem_responses

from ..endpoints import Ctx, Reader, Writer, _wilayah_query, to_out
from ..models import Umkm
from .models import DuplicateCandidate
from .schemas import CandidateOut, MergeBody, MergeOut, MergeResult
from .service import DedupService, allowed_steps

router = APIRouter(prefix="/v1", tags=["duplicates"])


def candidate_out(cand: DuplicateCandidate, records: dict[uuid.UUID, Umkm]) -> CandidateOut:
    a, b = records.get(cand.umkm_a), records.get(cand.umkm_b)
    return CandidateOut(
        id=cand.id,
        status=cand.status,
        score=cand.score,
        reason=cand.reason,
        province_code=cand.province_code,
        regency_code=cand.regency_code,
        village_code=cand.village_code,
        a=to_out(a) if a is not None else None,
        b=to_out(b) if b is not None else None,
        allowed=allowed_steps(cand),
        survivor_id=cand.survivor_id,
        note=cand.note,
        decided_by=cand.decided_by,
        decided_at=cand.decided_at,
        created_at=cand.created_at,
    )


@router.get(
    "/duplicate-candidates",
    response_model=Page[CandidateOut],
    responses=problem_responses(401, 403, 422),
)
async def list_candidates(
    actor: Reader,
    ctx: Ctx,
    status: Annotated[
        Literal["open", "merged", "kept_both", "superseded", "all"], Query()
    ] = "open",
    wilayah: Annotated[str | None, Query(description="Wilayah code prefix, e.g. 32.73.07")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[CandidateOut]:
    """Possible duplicates waiting for a decision (default `status=open`), oldest first, each
    with both records as they are now and their name similarity. A Dinas sees its wilayah."""
    after = decode_cursor(cursor)
    try:
        after_id = uuid.UUID(after) if after is not None else None
    except (ValueError, TypeError, AttributeError) as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e
    region = _wilayah_query(wilayah)
    async with ctx.db.transaction() as session:
        service = DedupService(ctx.service(session, actor))
        cands, records = await service.search(
            None if status == "all" else status, region, after_id, limit + 1
        )
    items = [candidate_out(c, records) for c in cands[:limit]]
    more = len(cands) > limit
    return Page[CandidateOut](
        items=items, next_cursor=encode_cursor(str(cands[limit - 1].id)) if more else None
    )


@router.get(
    "/duplicate-candidates/{candidate_id}",
    response_model=CandidateOut,
    responses=problem_responses(401, 403, 404),
)
async def read_candidate(candidate_id: uuid.UUID, actor: Reader, ctx: Ctx) -> CandidateOut:
    async with ctx.db.transaction() as session:
        cand, records = await DedupService(ctx.service(session, actor)).get(candidate_id)
    return candidate_out(cand, records)


@router.post(
    "/duplicate-candidates/{candidate_id}/merge",
    response_model=MergeResult,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def merge(
    candidate_id: uuid.UUID,
    body: MergeBody,
    actor: Writer,
    ctx: Ctx,
    idem: OptionalIdempotencyDep,
) -> Response:
    """Merge the pair: the survivor (`{"survivor": id}` or `{"keep": "a"|"b"}`) continues and
    takes what it lacked (NIB, NPWP, address, figures; products, certificates and KBLI codes are
    united); the other becomes status `merged` with `merged_into`, and stays readable. The
    change feed shows `merged` and `updated`; events `UmkmMerged` and `UmkmUpdated` follow.
    409 when the candidate is already decided (decisions are final) or the pair cannot be merged
    (a record no longer active, two NIBs). `Idempotency-Key` is optional."""
    async with ctx.db.transaction() as session:
        service = DedupService(ctx.service(session, actor))

        async def run() -> MergeResult:
            cand, survivor, merged = await service.merge(candidate_id, body)
            records = {survivor.id: survivor, merged.id: merged}
            return MergeResult(
                candidate=candidate_out(cand, records),
                survivor=to_out(survivor),
                merged=to_out(merged),
            )

        return await idem.run(session, actor.client_id, run)


@router.post(
    "/duplicate-candidates/{candidate_id}/keep-both",
    response_model=CandidateOut,
    responses=problem_responses(401, 403, 404, 409),
)
async def keep_both(
    candidate_id: uuid.UUID, actor: Writer, ctx: Ctx, idem: OptionalIdempotencyDep
) -> Response:
    """Decide that the pair are two businesses: the candidate closes and is never raised again.
    409 when it is already decided. `Idempotency-Key` is optional."""
    async with ctx.db.transaction() as session:
        service = DedupService(ctx.service(session, actor))

        async def run() -> CandidateOut:
            cand, records = await service.keep_both(candidate_id)
            return candidate_out(cand, records)

        return await idem.run(session, actor.client_id, run)


@router.get(
    "/umkm/{umkm_id}/merge-history",
    response_model=list[MergeOut],
    tags=["duplicates"],
    responses=problem_responses(401, 403, 404),
)
async def merge_history(umkm_id: uuid.UUID, actor: Reader, ctx: Ctx) -> list[MergeOut]:
    """The merges this record took part in (as survivor or as the merged record), oldest first,
    with the merged record as it was just before."""
    async with ctx.db.transaction() as session:
        rows = await DedupService(ctx.service(session, actor)).history(umkm_id)
    return [MergeOut.model_validate(r, from_attributes=True) for r in rows]
