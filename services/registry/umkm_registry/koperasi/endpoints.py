"""HTTP endpoints of the koperasi registry and UMKM memberships (docs/koperasi.md).

Each request is one unit of work. Writers are the ministry and Dinas (`registry:write`); a
koperasi client (actor kind "koperasi", actor_id = its koperasi id) reads only its own record
and its own members.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared import reference
from umkm_shared.auth import Actor, require_actor
from umkm_shared.errors import invalid
from umkm_shared.idempotency import IdempotencyDep, OptionalIdempotencyDep
from umkm_shared.identifiers import IdentifierError, parse_wilayah
from umkm_shared.pagination import Page, decode_cursor, encode_cursor
from umkm_shared.text import Text
from umkm_shared.web import problem_responses

from ..endpoints import Ctx, Reader, Writer, etag, parse_if_match, to_out
from ..models import Umkm
from ..schemas import Region
from . import domain
from .models import Koperasi, KoperasiMembership
from .repository import KoperasiFilters
from .schemas import (
    JoinRequest,
    KoperasiCreate,
    KoperasiOut,
    KoperasiPatch,
    KoperasiType,
    LeaveRequest,
    MemberOut,
    UmkmMembershipOut,
)
from .service import KoperasiService

router = APIRouter(prefix="/v1", tags=["koperasi"])

# Reads of one koperasi and its members: also the koperasi itself (ownership checked in the
# service: actor_id must be the koperasi's id).
KoperasiReader = Annotated[
    Actor, Depends(require_actor("ministry", "dinas", "koperasi", scope="registry:read"))
]


def _service(ctx: Ctx, session: AsyncSession, actor: Actor) -> KoperasiService:
    return KoperasiService(session, actor, ctx.outbox)


def _region(code: str) -> Region:
    return Region(code=code, name=reference.wilayah().name_of(code) or "")


def koperasi_out(row: Koperasi) -> KoperasiOut:
    return KoperasiOut(
        id=row.id,
        name=row.name,
        legal_number=row.legal_number,
        type=KoperasiType(row.type),
        type_name=domain.KOPERASI_TYPES[row.type],
        wilayah=_region(row.wilayah_code),
        regency=_region(row.regency_code),
        province=_region(row.province_code),
        address=row.address,
        status=row.status,
        dissolved_on=row.dissolved_on,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _membership_fields(m: KoperasiMembership) -> dict[str, object]:
    return {
        "membership_id": m.id,
        "koperasi_id": m.koperasi_id,
        "umkm_id": m.umkm_id,
        "joined_on": m.joined_on,
        "left_on": m.left_on,
        "left_reason": m.left_reason,
        "open": m.left_on is None,
        "created_at": m.created_at,
        "ended_at": m.ended_at,
    }


def member_out(m: KoperasiMembership, umkm: Umkm | None) -> MemberOut:
    return MemberOut(**_membership_fields(m), umkm=to_out(umkm) if umkm is not None else None)


def koperasi_response(
    row: Koperasi, status_code: int = 200, *, location: bool = False
) -> JSONResponse:
    headers = {"ETag": etag(row)}  # type: ignore[arg-type]
    if location:
        headers["Location"] = f"v1/koperasi/{row.id}"
    return JSONResponse(
        koperasi_out(row).model_dump(mode="json"), status_code=status_code, headers=headers
    )


def _after(cursor: str | None) -> uuid.UUID | None:
    after = decode_cursor(cursor)
    try:
        return uuid.UUID(after) if after is not None else None
    except (ValueError, TypeError, AttributeError) as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e


@router.post(
    "/koperasi",
    status_code=201,
    response_model=KoperasiOut,
    summary="Register a koperasi",
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def register(body: KoperasiCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep) -> Response:
    """The ministry anywhere, a Dinas inside its wilayah (the seat). A nomor badan hukum
    already registered answers 409 with the existing koperasi's id. Needs `Idempotency-Key`."""
    async with ctx.db.transaction() as session:
        service = _service(ctx, session, actor)

        async def run() -> Response:
            return koperasi_response(await service.register(body), 201, location=True)

        return await idem.run(session, actor.client_id, run, status_code=201)


@router.get(
    "/koperasi/{koperasi_id}",
    response_model=KoperasiOut,
    responses=problem_responses(401, 403, 404),
)
async def read(koperasi_id: uuid.UUID, actor: KoperasiReader, ctx: Ctx) -> Response:
    """A koperasi (with `ETag`). A koperasi client may read only its own record."""
    async with ctx.db.transaction() as session:
        return koperasi_response(await _service(ctx, session, actor).get(koperasi_id))


def _koperasi_filters(
    wilayah: Annotated[
        str | None, Query(description="Wilayah code prefix of the seat, e.g. 32.73")
    ] = None,
    type: Annotated[list[KoperasiType] | None, Query()] = None,
    q: Annotated[
        Text | None,
        Query(
            min_length=2, max_length=100, description="Name contains, or legal number starts with"
        ),
    ] = None,
    status: Annotated[str, Query(pattern="^(active|dissolved|all)$")] = "active",
) -> KoperasiFilters:
    code = None
    if wilayah is not None:
        try:
            code = parse_wilayah(wilayah)
        except IdentifierError as e:
            raise invalid("query.wilayah", str(e), wilayah) from e
    return KoperasiFilters(
        wilayah=code,
        types=tuple(t.value for t in type or ()),
        q=q,
        status=None if status == "all" else status,
    )


@router.get(
    "/koperasi", response_model=Page[KoperasiOut], responses=problem_responses(401, 403, 422)
)
async def search(
    actor: Reader,
    ctx: Ctx,
    filters: Annotated[KoperasiFilters, Depends(_koperasi_filters)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[KoperasiOut]:
    """Koperasi by seat wilayah, type and name; a Dinas sees those seated in its wilayah.
    Ordered by id (registration order); follow `next_cursor`."""
    after = _after(cursor)
    async with ctx.db.transaction() as session:
        rows = await _service(ctx, session, actor).search(filters, after, limit + 1)
    more = len(rows) > limit
    return Page[KoperasiOut](
        items=[koperasi_out(r) for r in rows[:limit]],
        next_cursor=encode_cursor(str(rows[limit - 1].id)) if more else None,
    )


@router.patch(
    "/koperasi/{koperasi_id}",
    response_model=KoperasiOut,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update(
    koperasi_id: uuid.UUID,
    body: KoperasiPatch,
    actor: Writer,
    ctx: Ctx,
    if_match: Annotated[str | None, Header(alias="If-Match", description='ETag, e.g. "3"')] = None,
) -> Response:
    """Change the fields present. `If-Match` must carry the ETag you read (428 without, 412
    when stale). `{"status": "dissolved", "dissolved_on": ...}` dissolves the koperasi: final,
    and every open membership ends on that date."""
    version = parse_if_match(if_match, required=True)
    async with ctx.db.transaction() as session:
        return koperasi_response(
            await _service(ctx, session, actor).update(koperasi_id, body, version)
        )


@router.post(
    "/koperasi/{koperasi_id}/members",
    status_code=201,
    response_model=MemberOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def join(
    koperasi_id: uuid.UUID, body: JoinRequest, actor: Writer, ctx: Ctx, idem: OptionalIdempotencyDep
) -> Response:
    """An UMKM joins the koperasi. The ministry, or the Dinas whose wilayah covers the UMKM
    (the koperasi may be seated elsewhere). 409 when it is already a member, the UMKM is not
    active or the koperasi is dissolved."""
    async with ctx.db.transaction() as session:
        service = _service(ctx, session, actor)

        async def run() -> Response:
            membership, umkm = await service.join(koperasi_id, body)
            return JSONResponse(
                member_out(membership, umkm).model_dump(mode="json"), status_code=201
            )

        return await idem.run(session, actor.client_id, run, status_code=201)


@router.post(
    "/koperasi/{koperasi_id}/members/{umkm_id}/leave",
    response_model=MemberOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def leave(
    koperasi_id: uuid.UUID,
    umkm_id: uuid.UUID,
    body: LeaveRequest,
    actor: Writer,
    ctx: Ctx,
    idem: OptionalIdempotencyDep,
) -> Response:
    """End the UMKM's open membership (kept in the history). 409 when it is not a member."""
    async with ctx.db.transaction() as session:
        service = _service(ctx, session, actor)

        async def run() -> Response:
            membership, umkm = await service.leave(koperasi_id, umkm_id, body)
            return JSONResponse(member_out(membership, umkm).model_dump(mode="json"))

        return await idem.run(session, actor.client_id, run)


@router.get(
    "/koperasi/{koperasi_id}/members",
    response_model=Page[MemberOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def members(
    koperasi_id: uuid.UUID,
    actor: KoperasiReader,
    ctx: Ctx,
    include_history: Annotated[bool, Query(description="Also memberships that ended")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[MemberOut]:
    """The koperasi's members with each UMKM's record (NIK masked), in joining order. The
    koperasi itself sees all its members; a Dinas only those whose UMKM lies in its wilayah."""
    after = _after(cursor)
    async with ctx.db.transaction() as session:
        rows = await _service(ctx, session, actor).members(
            koperasi_id, include_history=include_history, after=after, limit=limit + 1
        )
    more = len(rows) > limit
    return Page[MemberOut](
        items=[member_out(m, u) for m, u in rows[:limit]],
        next_cursor=encode_cursor(str(rows[limit - 1][0].id)) if more else None,
    )


@router.get(
    "/umkm/{umkm_id}/koperasi",
    response_model=list[UmkmMembershipOut],
    tags=["koperasi"],
    responses=problem_responses(401, 403, 404),
)
async def memberships_of_umkm(
    umkm_id: uuid.UUID, actor: Reader, ctx: Ctx
) -> list[UmkmMembershipOut]:
    """Every koperasi membership of an UMKM, past ones included, oldest first."""
    async with ctx.db.transaction() as session:
        rows = await _service(ctx, session, actor).memberships_of(umkm_id)
    return [UmkmMembershipOut(**_membership_fields(m), koperasi=koperasi_out(k)) for m, k in rows]
