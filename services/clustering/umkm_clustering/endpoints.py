"""HTTP endpoints of the clustering service. Each opens one unit of work.

Visibility: the ministry sees everything; a Dinas sees the clusters that touch its wilayah (a
member in its province or kab/kota) and gets 404 for others, as if they did not exist; other
actors are refused (403).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.auth import Actor, ActorKind, require_actor
from umkm_shared.db import Database
from umkm_shared.errors import Conflict, Forbidden, NotFound, invalid
from umkm_shared.events.clustering import ClusterUpdated
from umkm_shared.idempotency import IdempotencyDep
from umkm_shared.identifiers import IdentifierError, parse_wilayah
from umkm_shared.ids import new_id
from umkm_shared.messaging.outbox import Outbox
from umkm_shared.pagination import decode_cursor, encode_cursor
from umkm_shared.web import problem_responses

from .clusters import CLUSTER_COLUMNS, snapshot
from .config import Settings
from .jobs import FormationWorker, queue_run
from .report import render_html
from .taxonomy import TaxonomyIn

router = APIRouter(prefix="/v1", tags=["clustering"])

Reader = Annotated[Actor, Depends(require_actor("ministry", "dinas"))]
# runs and their national reports (every cluster's code and centre) are the ministry's
Ministry = Annotated[Actor, Depends(require_actor("ministry"))]


class ClusteringContext:
    def __init__(
        self, db: Database, outbox: Outbox, settings: Settings, worker: FormationWorker
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.settings = settings
        self.worker = worker


def context(request: Request) -> ClusteringContext:
    ctx: ClusteringContext = request.app.state.clustering
    return ctx


Ctx = Annotated[ClusteringContext, Depends(context)]


def touches(actor: Actor) -> tuple[str, dict[str, Any]]:
    """SQL condition (on table alias c) for the clusters the actor may see."""
    if actor.kind is ActorKind.DINAS and actor.wilayah:
        if len(actor.wilayah) == 2:
            return "c.province_codes @> ARRAY[CAST(:scope AS text)]", {"scope": actor.wilayah}
        return "c.regency_codes @> ARRAY[CAST(:scope AS text)]", {"scope": actor.wilayah}
    return "TRUE", {}


def _wilayah(field: str, value: str) -> str:
    try:
        code = parse_wilayah(value)
    except IdentifierError as e:
        raise invalid(field, str(e), value) from e
    if code.count(".") > 1:
        raise invalid(field, "a province (32) or kab/kota (32.73) code", value)
    return code


def cluster_out(row: Any) -> dict[str, Any]:
    d = dict(row)
    return {
        "id": str(d["id"]),
        "code": d["code"],
        "name": d["name"],
        "sector_code": d["sector_code"],
        "joined_sectors": list(d["joined_sectors"] or []),
        "status": d["status"],
        "status_reason": d["status_reason"],
        "member_count": d["member_count"],
        "province_code": d["province_code"],
        "province_codes": list(d["province_codes"] or []),
        "regency_codes": list(d["regency_codes"] or []),
        "centre": {"latitude": d["centre_lat"], "longitude": d["centre_lon"]},
        "extent": {
            "min_latitude": d["min_lat"],
            "max_latitude": d["max_lat"],
            "min_longitude": d["min_lon"],
            "max_longitude": d["max_lon"],
        },
        "operator": {
            "anchor_id": str(d["operator_anchor_id"]) if d["operator_anchor_id"] else None,
            "umkm_id": str(d["operator_umkm_id"]) if d["operator_umkm_id"] else None,
            "status": d["operator_status"],
        },
        "version": d["version"],
        "updated_at": d["updated_at"].isoformat() if d["updated_at"] else None,
    }


async def visible_cluster(s: AsyncSession, actor: Actor, cluster_id: uuid.UUID) -> dict[str, Any]:
    cond, args = touches(actor)
    row = (
        (
            await s.execute(
                text(f"SELECT {CLUSTER_COLUMNS} FROM clusters c WHERE c.id = :id AND {cond}"),
                {"id": cluster_id, **args},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(detail=f"Cluster {cluster_id} does not exist or is outside your wilayah")
    return dict(row)


# --- formation runs ----------------------------------------------------------------------------


class RunIn(BaseModel):
    mode: Literal["incremental", "rebuild"] = Field(
        "incremental",
        description="incremental keeps previous memberships where bounds allow; rebuild cuts "
        "everything afresh",
    )
    min_size: int | None = Field(None, ge=1, description="Override the configured minimum")
    max_size: int | None = Field(None, ge=1, description="Override the configured maximum")


def run_out(row: Any) -> dict[str, Any]:
    d = dict(row)
    return {
        "id": str(d["id"]),
        "status": d["status"],
        "phase": d["phase"],
        "progress": d["progress"],
        "mode": d["mode"],
        "params": d["params"],
        "taxonomy_version": d["taxonomy_version"],
        "requested_by": d["requested_by"],
        "requested_at": d["requested_at"].isoformat(),
        "started_at": d["started_at"].isoformat() if d["started_at"] else None,
        "finished_at": d["finished_at"].isoformat() if d["finished_at"] else None,
        "error": d["error"],
        "summary": d["summary"],
    }


@router.post(
    "/formation-runs",
    status_code=202,
    summary="Start a formation run (ministry)",
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def start_run(body: RunIn, actor: Ministry, ctx: Ctx, idem: IdempotencyDep) -> Response:
    """Queues a run; poll `GET /v1/formation-runs/{id}` for its phase and progress."""
    mn = body.min_size or ctx.settings.min_cluster_size
    mx = body.max_size or ctx.settings.max_cluster_size
    if mx < 2 * mn - 1:
        raise invalid("body.max_size", "must be at least 2 * min_size - 1", mx)
    async with ctx.db.transaction() as s:

        async def run() -> Response:
            run_id = await queue_run(s, ctx.settings, actor.client_id, body.mode, mn, mx)
            return JSONResponse(
                {"id": str(run_id), "status": "queued"},
                status_code=202,
                headers={"Location": f"v1/formation-runs/{run_id}"},
            )

        response = await idem.run(s, actor.client_id, run, status_code=202)
    ctx.worker.wake.set()
    return response


async def _run(s: AsyncSession, run_id: uuid.UUID) -> dict[str, Any]:
    row = (
        (await s.execute(text("SELECT * FROM formation_runs WHERE id = :id"), {"id": run_id}))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(detail=f"Formation run {run_id} does not exist")
    return dict(row)


@router.get("/formation-runs", responses=problem_responses(401, 403))
async def list_runs(actor: Ministry, ctx: Ctx, limit: int = Query(20, ge=1, le=100)) -> Any:
    async with ctx.db.transaction() as s:
        rows = (
            await s.execute(
                text("SELECT * FROM formation_runs ORDER BY requested_at DESC LIMIT :n"),
                {"n": limit},
            )
        ).mappings()
        return {"items": [run_out(r) for r in rows]}


@router.get("/formation-runs/{run_id}", responses=problem_responses(401, 403, 404))
async def get_run(run_id: uuid.UUID, actor: Ministry, ctx: Ctx) -> Any:
    async with ctx.db.transaction() as s:
        return run_out(await _run(s, run_id))


async def _report(ctx: ClusteringContext, run_id: uuid.UUID) -> tuple[dict[str, Any], Any]:
    async with ctx.db.transaction() as s:
        run = await _run(s, run_id)
    if run["status"] != "succeeded":
        raise Conflict(
            detail=f"Run {run_id} is {run['status']}; its report exists once it succeeded",
            extra={"status": run["status"]},
        )
    return run, run["report"]


@router.get("/formation-runs/{run_id}/report", responses=problem_responses(401, 403, 404, 409))
async def get_report(run_id: uuid.UUID, actor: Ministry, ctx: Ctx) -> Any:
    """Quality of the run: sizes, share within bounds, compactness, purity, dominant kab/kota,
    undersized groups and what was done with them."""
    _, report = await _report(ctx, run_id)
    return {"run_id": str(run_id), **report}


@router.get(
    "/formation-runs/{run_id}/report.html",
    response_class=HTMLResponse,
    responses=problem_responses(401, 403, 404, 409),
)
async def get_report_html(run_id: uuid.UUID, actor: Ministry, ctx: Ctx) -> HTMLResponse:
    run, report = await _report(ctx, run_id)
    async with ctx.db.transaction() as s:
        centres = [
            dict(r)
            for r in (
                await s.execute(
                    text(
                        "SELECT code, sector_code, status, member_count, centre_lat, centre_lon "
                        "FROM clusters WHERE status <> 'retired' ORDER BY code"
                    )
                )
            ).mappings()
        ]
    return HTMLResponse(render_html(run, report, centres))


# --- taxonomy ----------------------------------------------------------------------------------


@router.get("/taxonomy", responses=problem_responses(401, 403))
async def get_taxonomy(actor: Reader, ctx: Ctx) -> Any:
    async with ctx.db.transaction() as s:
        row = (
            await s.execute(
                text(
                    "SELECT version, data, created_by, created_at FROM taxonomy_versions "
                    "ORDER BY version DESC LIMIT 1"
                )
            )
        ).one()
    return {"version": row.version, **row.data, "created_at": row.created_at.isoformat()}


@router.get("/taxonomy/versions", responses=problem_responses(401, 403))
async def taxonomy_versions(actor: Reader, ctx: Ctx) -> Any:
    async with ctx.db.transaction() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT version, created_by, created_at, data->>'note' AS note, "
                    "jsonb_array_length(data->'rules') AS rules FROM taxonomy_versions "
                    "ORDER BY version DESC"
                )
            )
        ).all()
    return {
        "items": [
            {
                "version": r.version,
                "created_by": r.created_by,
                "created_at": r.created_at.isoformat(),
                "note": r.note,
                "rules": r.rules,
            }
            for r in rows
        ]
    }


@router.put("/taxonomy", status_code=201, responses=problem_responses(401, 403, 422))
async def put_taxonomy(body: TaxonomyIn, actor: Ministry, ctx: Ctx) -> Any:
    """A new version of the whole taxonomy (the ministry only); the next run uses it."""
    async with ctx.db.transaction() as s:
        await s.execute(text("LOCK TABLE taxonomy_versions IN EXCLUSIVE MODE"))
        version = (
            await s.execute(text("SELECT coalesce(max(version), 0) + 1 FROM taxonomy_versions"))
        ).scalar_one()
        from .jobs import _json

        await s.execute(
            text(
                "INSERT INTO taxonomy_versions (version, data, created_by) "
                "VALUES (:v, CAST(:d AS jsonb), :by)"
            ),
            {"v": version, "d": _json(body.model_dump()), "by": actor.client_id},
        )
    return {"version": version}


# --- clusters ----------------------------------------------------------------------------------


@router.get("/clusters", responses=problem_responses(401, 403, 422))
async def list_clusters(
    actor: Reader,
    ctx: Ctx,
    sector: Annotated[str | None, Query(max_length=40)] = None,
    province: Annotated[str | None, Query()] = None,
    regency: Annotated[str | None, Query()] = None,
    status: Annotated[Literal["active", "forming", "retired"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Any:
    """Clusters by sector, province, kab/kota and status; ordered by code."""
    cond, args = touches(actor)
    where = [cond]
    if sector:
        where.append("c.sector_code = :sector")
        args["sector"] = sector
    if province:
        args["province"] = _wilayah("query.province", province)
        where.append("c.province_codes @> ARRAY[CAST(:province AS text)]")
    if regency:
        args["regency"] = _wilayah("query.regency", regency)
        where.append("c.regency_codes @> ARRAY[CAST(:regency AS text)]")
    if status:
        where.append("c.status = :status")
        args["status"] = status
    else:
        where.append("c.status <> 'retired'")
    after = decode_cursor(cursor)
    if after is not None:
        if not isinstance(after, str):
            raise invalid("query.cursor", "Invalid cursor; use next_cursor from a previous page.")
        where.append("c.code > :after")
        args["after"] = after
    async with ctx.db.transaction() as s:
        rows = list(
            (
                await s.execute(
                    text(
                        f"SELECT {CLUSTER_COLUMNS} FROM clusters c WHERE {' AND '.join(where)} "
                        "ORDER BY c.code LIMIT :n"
                    ),
                    {**args, "n": limit + 1},
                )
            ).mappings()
        )
    items = [cluster_out(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_cursor(items[-1]["code"]) if more else None}


@router.get("/clusters.geojson", responses=problem_responses(401, 403, 422))
async def clusters_geojson(
    actor: Reader,
    ctx: Ctx,
    sector: Annotated[str | None, Query(max_length=40)] = None,
    extent: Annotated[bool, Query(description="bounding-box polygons instead of centres")] = False,
) -> Response:
    """GeoJSON FeatureCollection: cluster centres (Points) or extents (bbox Polygons)."""
    cond, args = touches(actor)
    where = [cond, "c.status <> 'retired'", "c.centre_lat IS NOT NULL"]
    if sector:
        where.append("c.sector_code = :sector")
        args["sector"] = sector
    async with ctx.db.transaction() as s:
        rows = (
            await s.execute(
                text(
                    f"SELECT {CLUSTER_COLUMNS} FROM clusters c WHERE {' AND '.join(where)} "
                    "ORDER BY c.code"
                ),
                args,
            )
        ).mappings()
        features = []
        for r in rows:
            if extent:
                ring = [
                    [r["min_lon"], r["min_lat"]],
                    [r["max_lon"], r["min_lat"]],
                    [r["max_lon"], r["max_lat"]],
                    [r["min_lon"], r["max_lat"]],
                    [r["min_lon"], r["min_lat"]],
                ]
                geometry: dict[str, Any] = {"type": "Polygon", "coordinates": [ring]}
            else:
                geometry = {"type": "Point", "coordinates": [r["centre_lon"], r["centre_lat"]]}
            features.append(
                {
                    "type": "Feature",
                    "id": str(r["id"]),
                    "geometry": geometry,
                    "properties": {
                        "code": r["code"],
                        "sector_code": r["sector_code"],
                        "status": r["status"],
                        "member_count": r["member_count"],
                    },
                }
            )
    return JSONResponse(
        {"type": "FeatureCollection", "features": features},
        media_type="application/geo+json",
    )


@router.get("/clusters/{cluster_id}", responses=problem_responses(401, 403, 404))
async def get_cluster(cluster_id: uuid.UUID, actor: Reader, ctx: Ctx) -> Any:
    async with ctx.db.transaction() as s:
        return cluster_out(await visible_cluster(s, actor, cluster_id))


@router.get("/clusters/{cluster_id}/members", responses=problem_responses(401, 403, 404, 422))
async def cluster_members(
    cluster_id: uuid.UUID,
    actor: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Any:
    """Members ordered by UMKM id. A Dinas sees only the members inside its wilayah."""
    after = decode_cursor(cursor)
    try:
        after_id = uuid.UUID(after) if after is not None else None
    except (ValueError, TypeError, AttributeError) as e:
        raise invalid(
            "query.cursor", "Invalid cursor; use next_cursor from a previous page."
        ) from e
    async with ctx.db.transaction() as s:
        await visible_cluster(s, actor, cluster_id)
        where = ["m.cluster_id = :c"]
        args: dict[str, Any] = {"c": cluster_id, "n": limit + 1}
        if after_id is not None:
            where.append("m.umkm_id > :after")
            args["after"] = after_id
        if actor.kind is ActorKind.DINAS and actor.wilayah:
            where.append("(u.regency_code = :w OR u.province_code = :w)")
            args["w"] = actor.wilayah
        rows = (
            await s.execute(
                text(
                    "SELECT m.umkm_id, m.sector_code, u.business_name, u.kbli_code, "
                    "u.village_code, u.regency_code, u.scale, u.lat, u.lon, m.assigned_at "
                    "FROM cluster_members m JOIN umkm u ON u.id = m.umkm_id "
                    f"WHERE {' AND '.join(where)} ORDER BY m.umkm_id LIMIT :n"
                ),
                args,
            )
        ).all()
    items = [
        {
            "umkm_id": str(r.umkm_id),
            "business_name": r.business_name,
            "sector_code": r.sector_code,
            "kbli_code": r.kbli_code,
            "village_code": r.village_code,
            "regency_code": r.regency_code,
            "scale": r.scale,
            "location": {"latitude": r.lat, "longitude": r.lon},
            "assigned_at": r.assigned_at.isoformat(),
        }
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_cursor(items[-1]["umkm_id"]) if more else None}


# --- holdings: operator and koperasi -----------------------------------------------------------


class OperatorIn(BaseModel):
    anchor_id: uuid.UUID | None = None
    umkm_id: uuid.UUID | None = Field(None, description="A medium enterprise (scale menengah)")


@router.put("/clusters/{cluster_id}/operator", responses=problem_responses(401, 403, 404, 422))
async def put_operator(cluster_id: uuid.UUID, body: OperatorIn, actor: Ministry, ctx: Ctx) -> Any:
    """The cluster's operator: an anchor company (pending until its registration event
    arrives) or a medium enterprise from the registry."""
    if (body.anchor_id is None) == (body.umkm_id is None):
        raise invalid("body", "give exactly one of anchor_id or umkm_id")
    async with ctx.db.transaction() as s:
        row = await visible_cluster(s, actor, cluster_id)
        if row["status"] == "retired":
            raise Conflict(detail=f"Cluster {row['code']} is retired")
        if body.umkm_id is not None:
            scale = (
                await s.execute(
                    text("SELECT scale FROM umkm WHERE id = :id AND status = 'active'"),
                    {"id": body.umkm_id},
                )
            ).scalar_one_or_none()
            if scale is None:
                raise invalid("body.umkm_id", "no active UMKM with this id", str(body.umkm_id))
            if scale != "menengah":
                raise invalid(
                    "body.umkm_id",
                    f"the operator must be a medium enterprise (is {scale})",
                    str(body.umkm_id),
                )
            status = "resolved"
        else:
            known = (
                await s.execute(
                    text("SELECT status FROM anchors WHERE id = :id"), {"id": body.anchor_id}
                )
            ).scalar_one_or_none()
            status = "resolved" if known is not None else "pending"
        updated = (
            (
                await s.execute(
                    text(
                        f"UPDATE clusters SET operator_anchor_id = :a, operator_umkm_id = :u, "
                        f"operator_status = :st, version = version + 1, updated_at = now() "
                        f"WHERE id = :id RETURNING {CLUSTER_COLUMNS}"
                    ),
                    {"a": body.anchor_id, "u": body.umkm_id, "st": status, "id": cluster_id},
                )
            )
            .mappings()
            .one()
        )
        await ctx.outbox.enqueue(
            s, ClusterUpdated(cluster=snapshot(updated), changed_fields=["operator"])
        )
        return cluster_out(updated)


@router.get("/clusters/{cluster_id}/koperasi", responses=problem_responses(401, 403, 404))
async def cluster_koperasi(cluster_id: uuid.UUID, actor: Reader, ctx: Ctx) -> Any:
    """The koperasi that aggregate the cluster's members (open memberships), largest first."""
    async with ctx.db.transaction() as s:
        await visible_cluster(s, actor, cluster_id)
        rows = (
            await s.execute(
                text(
                    """
                    SELECT k.koperasi_id, coalesce(ko.name, '') AS name, ko.type,
                        ko.regency_code, count(DISTINCT k.umkm_id) AS members
                    FROM cluster_members m
                    JOIN koperasi_members k ON k.umkm_id = m.umkm_id AND k.left_on IS NULL
                    LEFT JOIN koperasi ko ON ko.id = k.koperasi_id
                    WHERE m.cluster_id = :c
                    GROUP BY k.koperasi_id, ko.name, ko.type, ko.regency_code
                    ORDER BY members DESC, k.koperasi_id
                    """
                ),
                {"c": cluster_id},
            )
        ).all()
    return {
        "items": [
            {
                "koperasi_id": str(r.koperasi_id),
                "name": r.name,
                "type": r.type,
                "regency_code": r.regency_code,
                "members_in_cluster": r.members,
            }
            for r in rows
        ]
    }


# --- programmes --------------------------------------------------------------------------------


class ProgrammeIn(BaseModel):
    name: str = Field(min_length=3, max_length=200)
    kind: Literal[
        "training", "certification", "financing_access", "market_access", "mentoring", "other"
    ]
    description: str | None = Field(None, max_length=4000)
    sector_codes: list[str] = Field(default_factory=list, max_length=100)
    wilayah_codes: list[str] = Field(
        default_factory=list, max_length=100, description="Provinces or kab/kota targeted"
    )
    scales: list[Literal["mikro", "kecil", "menengah"]] = Field(default_factory=list)


class EnrolIn(BaseModel):
    cluster_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    umkm_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)


class ResultIn(BaseModel):
    cluster_id: uuid.UUID
    metric: str = Field(min_length=1, max_length=100, examples=["trained_umkm"])
    value: float
    note: str | None = Field(None, max_length=2000)


async def _programme(s: AsyncSession, actor: Actor, pid: uuid.UUID) -> dict[str, Any]:
    row = (
        (await s.execute(text("SELECT * FROM programmes WHERE id = :id"), {"id": pid}))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(detail=f"Programme {pid} does not exist")
    d = dict(row)
    if actor.kind is ActorKind.DINAS:
        if not any(actor.can_access_wilayah(w) for w in d["wilayah_codes"]):
            raise NotFound(detail=f"Programme {pid} does not exist")
    return d


def programme_out(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(d["id"]),
        "name": d["name"],
        "kind": d["kind"],
        "description": d["description"],
        "sector_codes": list(d["sector_codes"]),
        "wilayah_codes": list(d["wilayah_codes"]),
        "scales": list(d["scales"]),
        "created_by_kind": d["created_by_kind"],
        "created_at": d["created_at"].isoformat(),
    }


@router.post("/programmes", status_code=201, responses=problem_responses(401, 403, 422))
async def create_programme(
    body: ProgrammeIn, actor: Reader, ctx: Ctx, idem: IdempotencyDep
) -> Response:
    """The ministry targets any region; a Dinas only inside its wilayah (and must name it)."""
    codes = [_wilayah(f"body.wilayah_codes[{i}]", w) for i, w in enumerate(body.wilayah_codes)]
    if actor.kind is ActorKind.DINAS:
        if not codes:
            raise Forbidden(
                detail=f"A Dinas programme must target regions inside {actor.wilayah}",
                extra={"field": "body.wilayah_codes"},
            )
        for i, w in enumerate(codes):
            if not actor.can_access_wilayah(w):
                raise Forbidden(
                    detail=f"body.wilayah_codes[{i}] {w} is outside your wilayah {actor.wilayah}",
                    extra={"field": f"body.wilayah_codes[{i}]"},
                )
    pid = new_id()
    async with ctx.db.transaction() as s:

        async def run() -> Response:
            await s.execute(
                text(
                    """
                    INSERT INTO programmes (id, name, kind, description, sector_codes,
                        wilayah_codes, scales, owner_wilayah, created_by, created_by_kind)
                    VALUES (:id, :name, :kind, :d, :sec, :w, :sc, :ow, :by, :bk)
                    """
                ),
                {
                    "id": pid,
                    "name": body.name,
                    "kind": body.kind,
                    "d": body.description,
                    "sec": body.sector_codes,
                    "w": codes,
                    "sc": list(body.scales),
                    "ow": actor.wilayah,
                    "by": actor.client_id,
                    "bk": actor.kind.value,
                },
            )
            d = await _programme(s, actor, pid)
            return JSONResponse(programme_out(d), status_code=201)

        return await idem.run(s, actor.client_id, run, status_code=201)


@router.get("/programmes/{programme_id}", responses=problem_responses(401, 403, 404))
async def get_programme(programme_id: uuid.UUID, actor: Reader, ctx: Ctx) -> Any:
    async with ctx.db.transaction() as s:
        d = await _programme(s, actor, programme_id)
        rows = (
            await s.execute(
                text(
                    """
                    SELECT pc.cluster_id, c.code,
                        (SELECT count(*) FROM programme_members pm
                         WHERE pm.programme_id = pc.programme_id
                           AND pm.cluster_id = pc.cluster_id) AS enrolled_umkm
                    FROM programme_clusters pc JOIN clusters c ON c.id = pc.cluster_id
                    WHERE pc.programme_id = :p ORDER BY c.code
                    """
                ),
                {"p": programme_id},
            )
        ).all()
        results = (
            await s.execute(
                text(
                    "SELECT cluster_id, metric, sum(value) AS total, count(*) AS entries "
                    "FROM programme_results WHERE programme_id = :p "
                    "GROUP BY cluster_id, metric ORDER BY cluster_id, metric"
                ),
                {"p": programme_id},
            )
        ).all()
    per: dict[str, dict[str, Any]] = {
        str(r.cluster_id): {
            "cluster_id": str(r.cluster_id),
            "code": r.code,
            "enrolled_umkm": r.enrolled_umkm,
            "results": {},
        }
        for r in rows
    }
    for r in results:
        per.setdefault(str(r.cluster_id), {"cluster_id": str(r.cluster_id), "results": {}})
        per[str(r.cluster_id)]["results"][r.metric] = r.total
    return {**programme_out(d), "clusters": list(per.values())}


def _matched_sql(d: dict[str, Any], actor: Actor) -> tuple[str, dict[str, Any]]:
    cond, args = touches(actor)
    where = [cond, "c.status <> 'retired'"]
    if d["sector_codes"]:
        where.append("c.sector_code = ANY(:sectors)")
        args["sectors"] = list(d["sector_codes"])
    if d["wilayah_codes"]:
        provs = [w for w in d["wilayah_codes"] if len(w) == 2]
        regs = [w for w in d["wilayah_codes"] if len(w) > 2]
        where.append(
            "(c.province_codes && CAST(:provs AS text[]) "
            "OR c.regency_codes && CAST(:regs AS text[]))"
        )
        args |= {"provs": provs, "regs": regs}
    if d["scales"]:
        where.append(
            "EXISTS (SELECT 1 FROM cluster_members m JOIN umkm u ON u.id = m.umkm_id "
            "WHERE m.cluster_id = c.id AND u.scale = ANY(:scales))"
        )
        args["scales"] = list(d["scales"])
    return " AND ".join(where), args


@router.get(
    "/programmes/{programme_id}/matched-clusters", responses=problem_responses(401, 403, 404)
)
async def matched_clusters(programme_id: uuid.UUID, actor: Reader, ctx: Ctx) -> Any:
    """Clusters the programme's sector, region and scale criteria select."""
    async with ctx.db.transaction() as s:
        d = await _programme(s, actor, programme_id)
        where, args = _matched_sql(d, actor)
        rows = (
            await s.execute(
                text(f"SELECT {CLUSTER_COLUMNS} FROM clusters c WHERE {where} ORDER BY c.code"),
                args,
            )
        ).mappings()
        return {"items": [cluster_out(r) for r in rows]}


@router.post(
    "/programmes/{programme_id}/enrolments", responses=problem_responses(401, 403, 404, 422)
)
async def enrol(programme_id: uuid.UUID, body: EnrolIn, actor: Reader, ctx: Ctx) -> Any:
    """Enrol clusters (all their members) and/or single UMKM (their cluster is enrolled too)."""
    async with ctx.db.transaction() as s:
        d = await _programme(s, actor, programme_id)
        where, args = _matched_sql(d, actor)
        for i, cid in enumerate(body.cluster_ids):
            ok = (
                await s.execute(
                    text(f"SELECT 1 FROM clusters c WHERE c.id = :cid AND {where}"),
                    {**args, "cid": cid},
                )
            ).first()
            if ok is None:
                raise invalid(
                    f"body.cluster_ids[{i}]", "not a cluster this programme targets", str(cid)
                )
        clusters = set(body.cluster_ids)
        members: list[tuple[uuid.UUID, uuid.UUID]] = []
        for i, uid in enumerate(body.umkm_ids):
            row = (
                await s.execute(
                    text(
                        f"SELECT m.cluster_id FROM cluster_members m JOIN clusters c "
                        f"ON c.id = m.cluster_id WHERE m.umkm_id = :u AND {where}"
                    ),
                    {**args, "u": uid},
                )
            ).first()
            if row is None:
                raise invalid(f"body.umkm_ids[{i}]", "not a member of a targeted cluster", str(uid))
            members.append((uid, row[0]))
            clusters.add(row[0])
        for cid in sorted(clusters):
            await s.execute(
                text(
                    "INSERT INTO programme_clusters (programme_id, cluster_id, enrolled_by) "
                    "VALUES (:p, :c, :by) ON CONFLICT DO NOTHING"
                ),
                {"p": programme_id, "c": cid, "by": actor.client_id},
            )
        for cid in body.cluster_ids:
            await s.execute(
                text(
                    "INSERT INTO programme_members (programme_id, umkm_id, cluster_id) "
                    "SELECT :p, umkm_id, cluster_id FROM cluster_members WHERE cluster_id = :c "
                    "ON CONFLICT DO NOTHING"
                ),
                {"p": programme_id, "c": cid},
            )
        for uid, cid in members:
            await s.execute(
                text(
                    "INSERT INTO programme_members (programme_id, umkm_id, cluster_id) "
                    "VALUES (:p, :u, :c) ON CONFLICT DO NOTHING"
                ),
                {"p": programme_id, "u": uid, "c": cid},
            )
    return {"clusters": len(clusters), "umkm": len(members)}


@router.post(
    "/programmes/{programme_id}/results",
    status_code=201,
    responses=problem_responses(401, 403, 404, 422),
)
async def record_result(programme_id: uuid.UUID, body: ResultIn, actor: Reader, ctx: Ctx) -> Any:
    """A result for one enrolled cluster (e.g. metric `certified_umkm`, value 120)."""
    async with ctx.db.transaction() as s:
        await _programme(s, actor, programme_id)
        await visible_cluster(s, actor, body.cluster_id)
        enrolled = (
            await s.execute(
                text(
                    "SELECT 1 FROM programme_clusters WHERE programme_id = :p AND cluster_id = :c"
                ),
                {"p": programme_id, "c": body.cluster_id},
            )
        ).first()
        if enrolled is None:
            raise invalid("body.cluster_id", "the cluster is not enrolled", str(body.cluster_id))
        rid = new_id()
        await s.execute(
            text(
                "INSERT INTO programme_results (id, programme_id, cluster_id, metric, value, note, "
                "recorded_by) VALUES (:id, :p, :c, :m, :v, :n, :by)"
            ),
            {
                "id": rid,
                "p": programme_id,
                "c": body.cluster_id,
                "m": body.metric,
                "v": body.value,
                "n": body.note,
                "by": actor.client_id,
            },
        )
    return {"id": str(rid)}
