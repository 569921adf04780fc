"""HTTP endpoints of the registry. Each opens one unit of work and commits it before answering."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func

from umkm_shared import reference
from umkm_shared.auth import Actor, ClientStore, require_actor
from umkm_shared.errors import BadRequest, PreconditionRequired, invalid
from umkm_shared.idempotency import IdempotencyDep, OptionalIdempotencyDep
from umkm_shared.identifiers import IdentifierError, parse_wilayah
from umkm_shared.pagination import Page, decode_cursor, encode_cursor
from umkm_shared.text import Text
from umkm_shared.web import problem_responses

from .context import RegistryContext
from .models import Umkm
from .repository import ChangeRepository, SearchFilters
from .schemas import (
    ChangeFeed,
    ChangeOut,
    CountRow,
    Counts,
    Deactivate,
    Kbli,
    Location,
    Owner,
    OwnerNikOut,
    Region,
    ScaleChangeOut,
    UmkmCreate,
    UmkmOut,
    UmkmPatch,
    Wilayah,
)

router = APIRouter(prefix="/v1", tags=["umkm"])

# Ministry reads everything; a Dinas reads and writes inside its wilayah; others are refused.
Reader = Annotated[Actor, Depends(require_actor("ministry", "dinas", scope="registry:read"))]
Writer = Annotated[Actor, Depends(require_actor("ministry", "dinas", scope="registry:write"))]
PiiReader = Annotated[Actor, Depends(require_actor("ministry", "dinas", scope="registry:pii"))]


def context(request: Request) -> RegistryContext:
    ctx: RegistryContext = request.app.state.registry
    return ctx


Ctx = Annotated[RegistryContext, Depends(context)]


def etag(row: Umkm) -> str:
    return f'"{row.version}"'


def parse_if_match(value: str | None, *, required: bool) -> int | None:
    """The version an If-Match names; None for none given (where allowed) or `*` (RFC 9110:
    any current version — the caller accepts overwriting whatever is stored)."""
    if value is None:
        if required:
            raise PreconditionRequired(
                detail="If-Match is required: send the ETag from your last read of this record",
                extra={"field": "header.If-Match"},
            )
        return None
    if value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise invalid("header.If-Match", f'{value!r} is not an ETag of this API (e.g. "3")')
    return int(tag)


def to_out(row: Umkm) -> UmkmOut:
    names = reference.wilayah()

    def region(code: str) -> Region:
        return Region(code=code, name=names.name_of(code) or "")

    return UmkmOut(
        id=row.id,
        business_name=row.business_name,
        owner=Owner(name=row.owner_name, nik_masked=row.owner_nik_masked),
        nib=row.nib,
        npwp=row.npwp,
        kbli=Kbli.model_construct(version=row.kbli_version, code=row.kbli_code),
        kbli_others=[Kbli.model_construct(**k) for k in row.kbli_others],
        wilayah=Wilayah(
            province=region(row.province_code),
            regency=region(row.regency_code),
            district=region(row.district_code),
            village=region(row.village_code),
        ),
        address=row.address,
        location=Location(
            latitude=row.latitude, longitude=row.longitude, approximate=row.location_approximate
        ),
        capital_idr=row.capital_idr,
        annual_sales_idr=row.annual_sales_idr,
        scale=row.scale,
        workforce=row.workforce,
        founded_on=row.founded_on,
        products=list(row.products),
        certifications=row.certifications,  # type: ignore[arg-type]
        status=row.status,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deactivated_at=row.deactivated_at,
        deactivation_reason=row.deactivation_reason,
        merged_into=row.merged_into,  # type: ignore[attr-defined]  # column added by dedup
    )


def record_response(row: Umkm, status_code: int = 200, *, location: bool = False) -> JSONResponse:
    headers = {"ETag": etag(row)}
    if location:
        headers["Location"] = f"v1/umkm/{row.id}"
    return JSONResponse(
        to_out(row).model_dump(mode="json"), status_code=status_code, headers=headers
    )


@router.post(
    "/umkm",
    status_code=201,
    response_model=UmkmOut,
    summary="Register an UMKM",
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def register(body: UmkmCreate, actor: Writer, ctx: Ctx, idem: IdempotencyDep) -> Response:
    """A Dinas registers inside its wilayah. An NIB already registered answers 409 with the
    existing record's id. Send an `Idempotency-Key` so a retried request registers once."""
    async with ctx.db.transaction() as session:
        service = ctx.service(session, actor)

        async def run() -> Response:
            return record_response(await service.register(body), 201, location=True)

        return await idem.run(session, actor.client_id, run, status_code=201)


@router.get("/umkm/{umkm_id}", response_model=UmkmOut, responses=problem_responses(401, 403, 404))
async def read(umkm_id: uuid.UUID, actor: Reader, ctx: Ctx) -> Response:
    async with ctx.db.transaction() as session:
        return record_response(await ctx.service(session, actor).get(umkm_id))


@router.patch(
    "/umkm/{umkm_id}",
    response_model=UmkmOut,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update(
    umkm_id: uuid.UUID,
    body: UmkmPatch,
    actor: Writer,
    ctx: Ctx,
    if_match: Annotated[str | None, Header(alias="If-Match", description='ETag, e.g. "3"')] = None,
) -> Response:
    """Change the fields present in the body. `If-Match` must carry the ETag of the version
    you read; a stale one answers 412. A changed scale is recorded in the scale history."""
    version = parse_if_match(if_match, required=True)
    async with ctx.db.transaction() as session:
        return record_response(await ctx.service(session, actor).update(umkm_id, body, version))


@router.post(
    "/umkm/{umkm_id}/deactivate",
    response_model=UmkmOut,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def deactivate(
    umkm_id: uuid.UUID,
    body: Deactivate,
    actor: Writer,
    ctx: Ctx,
    idem: OptionalIdempotencyDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    version = parse_if_match(if_match, required=False)
    async with ctx.db.transaction() as session:
        service = ctx.service(session, actor)

        async def run() -> Response:
            return record_response(await service.deactivate(umkm_id, body.reason, version))

        return await idem.run(session, actor.client_id, run)


def _wilayah_query(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_wilayah(value)
    except IdentifierError as e:
        raise invalid("query.wilayah", str(e), value) from e


def _kbli_query(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= len(value) <= 5:
        raise invalid("query.kbli", "a KBLI prefix is 1 to 5 digits", value)
    return value


def _filters(
    wilayah: Annotated[str | None, Query(description="Wilayah code prefix, e.g. 32.73")] = None,
    kbli: Annotated[str | None, Query(description="KBLI code prefix, e.g. 107")] = None,
    scale: Annotated[list[Literal["mikro", "kecil", "menengah", "besar"]] | None, Query()] = None,
    has_nib: Annotated[bool | None, Query()] = None,
    q: Annotated[
        Text | None, Query(min_length=2, max_length=100, description="Name contains")
    ] = None,
    status: Annotated[Literal["active", "inactive", "merged", "all"], Query()] = "active",
) -> SearchFilters:
    return SearchFilters(
        wilayah=_wilayah_query(wilayah),
        kbli_prefix=_kbli_query(kbli),
        scales=tuple(scale or ()),
        has_nib=has_nib,
        name=q,
        status=None if status == "all" else status,
    )


Filters = Annotated[SearchFilters, Depends(_filters)]


@router.get("/umkm", response_model=Page[UmkmOut], responses=problem_responses(401, 403, 422))
async def search(
    actor: Reader,
    ctx: Ctx,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[UmkmOut]:
    """Search by wilayah prefix, KBLI prefix, scale, NIB presence and name; a Dinas sees only
    its wilayah. Ordered by id (registration order); follow `next_cursor` for the next page."""
    after = decode_cursor(cursor)
    try:
        after_id = uuid.UUID(after) if after is not None else None
    except (ValueError, TypeError, AttributeError) as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e
    async with ctx.db.transaction() as session:
        rows = await ctx.service(session, actor).search(filters, after_id, limit + 1)
    items = [to_out(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page[UmkmOut](
        items=items, next_cursor=encode_cursor(str(rows[limit - 1].id)) if more else None
    )


GROUPS = {
    "province": Umkm.province_code,
    "regency": Umkm.regency_code,
    "district": Umkm.district_code,
    "kbli_division": func.left(Umkm.kbli_code, 2),
    "kbli_section": func.left(Umkm.kbli_code, 2),
    "scale": Umkm.scale,
}


@router.get("/umkm-stats", response_model=Counts, responses=problem_responses(401, 403, 422))
async def stats(
    actor: Reader,
    ctx: Ctx,
    filters: Filters,
    group_by: Annotated[
        Literal["province", "regency", "district", "kbli_section", "kbli_division", "scale"],
        Query(),
    ] = "province",
) -> Counts:
    """Counts of UMKM by region, sector (KBLI section or 2-digit division) or scale."""
    async with ctx.db.transaction() as session:
        service = ctx.service(session, actor)
        if filters.wilayah:
            await service.search(filters, None, 0)  # refuses a wilayah outside the caller's
        rows = await service.repo.counts(GROUPS[group_by], filters, scope=service.scope)
    totals: dict[str, int] = {}
    kbli = reference.kbli()
    for key, n in rows:
        if group_by == "kbli_section":
            key = kbli.section_of(key) or "?"
        totals[key] = totals.get(key, 0) + n

    def name(key: str) -> str | None:
        if group_by in ("province", "regency", "district"):
            return reference.wilayah().name_of(key)
        if group_by in ("kbli_section", "kbli_division"):
            return kbli.title(key)
        return None

    return Counts(
        group_by=group_by,
        total=sum(totals.values()),
        rows=[CountRow(key=k, name=name(k), count=n) for k, n in sorted(totals.items())],
    )


@router.get(
    "/umkm/{umkm_id}/scale-history",
    response_model=list[ScaleChangeOut],
    responses=problem_responses(401, 403, 404),
)
async def scale_history(umkm_id: uuid.UUID, actor: Reader, ctx: Ctx) -> list[ScaleChangeOut]:
    """Every scale the UMKM has had, oldest first ("naik kelas")."""
    async with ctx.db.transaction() as session:
        rows = await ctx.service(session, actor).scale_history(umkm_id)
    return [ScaleChangeOut.model_validate(r, from_attributes=True) for r in rows]


@router.get(
    "/umkm/{umkm_id}/owner-nik",
    response_model=OwnerNikOut,
    responses=problem_responses(401, 403, 404),
)
async def owner_nik(
    umkm_id: uuid.UUID,
    actor: PiiReader,
    ctx: Ctx,
    purpose: Annotated[
        Text, Query(min_length=3, max_length=200, description="Why you need it (audited)")
    ],
) -> OwnerNikOut:
    """The owner's full NIK, for callers holding `registry:pii`. Every read is audited."""
    async with ctx.db.transaction() as session:
        nik = await ctx.service(session, actor).reveal_nik(umkm_id, purpose)
    return OwnerNikOut(umkm_id=umkm_id, owner_nik=nik)


@router.get(
    "/changes",
    response_model=ChangeFeed,
    tags=["change feed"],
    responses=problem_responses(401, 403, 422),
)
async def changes(
    actor: Reader,
    ctx: Ctx,
    since: Annotated[
        str | None, Query(description="next_since of your previous read; omit to start")
    ] = None,
    wilayah: Annotated[
        str | None, Query(description="Province or kab/kota; default: your wilayah")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ChangeFeed:
    """Every registration, update, deactivation and merge in a region, in commit order.

    Poll with the `next_since` of the previous answer to stay in sync: no change is skipped
    or repeated, also across restarts of either side. Each item carries the record as it is now.
    """
    after = decode_cursor(since)
    if after is None:
        after = (0, 0)
    elif not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(x, int) for x in after)
    ):
        raise invalid("query.since", "Invalid cursor; use next_since from a previous read.")
    region = _wilayah_query(wilayah)
    async with ctx.db.transaction() as session:
        region = ctx.service(session, actor).feed_wilayah(region)
        rows = await ChangeRepository(session).read(region, (after[0], after[1]), limit)
    items = [
        ChangeOut(
            seq=c.seq,
            change=c.change,  # type: ignore[arg-type]
            umkm_id=c.umkm_id,
            version=c.version,
            changed_at=c.changed_at,
            merged_into=c.merged_into,
            umkm=to_out(row) if row is not None else None,
        )
        for c, row in rows
    ]
    last = (rows[-1][0].txid, rows[-1][0].seq) if rows else tuple(after)
    return ChangeFeed(items=items, next_since=encode_cursor(list(last)))


async def client_store(ctx: Ctx):  # type: ignore[no-untyped-def]
    async with ctx.db.transaction() as session:
        yield ClientStore(session)


__all__ = ["BadRequest", "client_store", "router"]
