"""The read model fed by events: UMKM facts clustering needs, koperasi memberships, anchors.

Every snapshot is kept only if its version is newer than the stored one (at-least-once
delivery may repeat or reorder an entity's events across a replay), so replaying the topic from
the start into an empty database rebuilds the same rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.events.envelope import CloudEvent
from umkm_shared.events.koperasi import (
    KoperasiMembershipEnded,
    KoperasiMembershipStarted,
    KoperasiRegistered,
    KoperasiUpdated,
)
from umkm_shared.events.registry import (
    UmkmDeactivated,
    UmkmMerged,
    UmkmRegistered,
    UmkmScaleChanged,
    UmkmSnapshot,
    UmkmUpdated,
)
from umkm_shared.events.supply_chain import AnchorRegistered, AnchorUpdated
from umkm_shared.reference import centroids

from .live import LiveMaintenance

_UPSERT_UMKM = text(
    """
    INSERT INTO umkm (id, version, kbli_code, province_code, regency_code, district_code,
        village_code, latitude, longitude, lat, lon, location_source, scale, status,
        business_name, updated_at)
    VALUES (:id, :version, :kbli_code, :province_code, :regency_code, :district_code,
        :village_code, :latitude, :longitude, :lat, :lon, :location_source, :scale, :status,
        :business_name, :updated_at)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, kbli_code = excluded.kbli_code,
        province_code = excluded.province_code, regency_code = excluded.regency_code,
        district_code = excluded.district_code, village_code = excluded.village_code,
        latitude = excluded.latitude, longitude = excluded.longitude, lat = excluded.lat,
        lon = excluded.lon, location_source = excluded.location_source, scale = excluded.scale,
        status = excluded.status, business_name = excluded.business_name,
        updated_at = excluded.updated_at
    WHERE umkm.version < excluded.version
    RETURNING id
    """
)


def resolve_location(s: UmkmSnapshot) -> tuple[float, float, str]:
    """The snapshot's coordinates, else the centre of its desa / kecamatan / kab/kota."""
    if s.latitude is not None and s.longitude is not None:
        return s.latitude, s.longitude, "reported"
    table = centroids()
    for code in (s.village_code, s.district_code, s.regency_code, s.province_code):
        point = table.point(code)
        if point is not None:
            return point.lat, point.lng, f"centroid:{point.source_code}"
    return 0.0, 118.0, "unknown"


def umkm_row(s: UmkmSnapshot) -> dict[str, Any]:
    lat, lon, source = resolve_location(s)
    return {
        "id": s.umkm_id,
        "version": s.version,
        "kbli_code": s.kbli_primary.code,
        "province_code": s.province_code,
        "regency_code": s.regency_code,
        "district_code": s.district_code,
        "village_code": s.village_code,
        "latitude": s.latitude,
        "longitude": s.longitude,
        "lat": lat,
        "lon": lon,
        "location_source": source,
        "scale": s.scale,
        "status": s.status,
        "business_name": s.business_name,
        "updated_at": s.updated_at,
    }


Handler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]


class ReadModel:
    """Event handlers for the clustering consumer (see app.build)."""

    def __init__(self, live: LiveMaintenance | None) -> None:
        self.live = live

    def handlers(self) -> dict[Any, Handler]:
        return {
            UmkmRegistered: self.on_snapshot,
            UmkmUpdated: self.on_snapshot,
            UmkmScaleChanged: self.on_scale_changed,
            UmkmDeactivated: self.on_deactivated,
            UmkmMerged: self.on_merged,
            KoperasiRegistered: self.on_koperasi,
            KoperasiUpdated: self.on_koperasi,
            KoperasiMembershipStarted: self.on_membership_started,
            KoperasiMembershipEnded: self.on_membership_ended,
            AnchorRegistered: self.on_anchor,
            AnchorUpdated: self.on_anchor,
        }

    async def on_snapshot(
        self, session: AsyncSession, p: UmkmRegistered | UmkmUpdated, _: CloudEvent
    ) -> None:
        applied = (await session.execute(_UPSERT_UMKM, umkm_row(p.umkm))).first()
        if applied is not None and self.live is not None:
            await self.live.on_umkm_changed(session, p.umkm.umkm_id)

    async def on_scale_changed(
        self, session: AsyncSession, p: UmkmScaleChanged, _: CloudEvent
    ) -> None:
        # the matching UmkmUpdated carries the same scale with its version; this event only
        # fills in when it arrives first for a known record
        await session.execute(
            text("UPDATE umkm SET scale = :scale WHERE id = :id AND updated_at <= :at"),
            {"scale": p.new_scale, "id": p.umkm_id, "at": p.changed_at},
        )

    async def on_deactivated(
        self, session: AsyncSession, p: UmkmDeactivated, _: CloudEvent
    ) -> None:
        await session.execute(
            text("UPDATE umkm SET status = 'inactive' WHERE id = :id AND status = 'active'"),
            {"id": p.umkm_id},
        )
        if self.live is not None:
            await self.live.remove(session, [p.umkm_id], "deactivated")

    async def on_merged(self, session: AsyncSession, p: UmkmMerged, _: CloudEvent) -> None:
        await session.execute(
            text(
                "UPDATE umkm SET status = 'merged', merged_into = :survivor, "
                "version = GREATEST(version, :v) WHERE id = :id"
            ),
            {"id": p.merged_id, "survivor": p.survivor_id, "v": p.merged_version},
        )
        if self.live is not None:
            await self.live.remove(session, [p.merged_id], "merged_into_survivor")

    async def on_koperasi(
        self, session: AsyncSession, p: KoperasiRegistered | KoperasiUpdated, _: CloudEvent
    ) -> None:
        k = p.koperasi
        await session.execute(
            text(
                """
                INSERT INTO koperasi (id, version, name, type, province_code, regency_code, status)
                VALUES (:id, :v, :name, :type, :prov, :reg, :status)
                ON CONFLICT (id) DO UPDATE SET version = excluded.version, name = excluded.name,
                    type = excluded.type, province_code = excluded.province_code,
                    regency_code = excluded.regency_code, status = excluded.status
                WHERE koperasi.version < excluded.version
                """
            ),
            {
                "id": k.koperasi_id,
                "v": k.version,
                "name": k.name,
                "type": k.type,
                "prov": k.province_code,
                "reg": k.regency_code,
                "status": k.status,
            },
        )

    async def on_membership_started(
        self, session: AsyncSession, p: KoperasiMembershipStarted, _: CloudEvent
    ) -> None:
        await session.execute(
            text(
                "INSERT INTO koperasi_members (membership_id, umkm_id, koperasi_id, joined_on) "
                "VALUES (:m, :u, :k, :j) ON CONFLICT (membership_id) DO NOTHING"
            ),
            {"m": p.membership_id, "u": p.umkm_id, "k": p.koperasi_id, "j": p.joined_on},
        )

    async def on_membership_ended(
        self, session: AsyncSession, p: KoperasiMembershipEnded, _: CloudEvent
    ) -> None:
        await session.execute(
            text(
                """
                INSERT INTO koperasi_members (membership_id, umkm_id, koperasi_id, joined_on,
                    left_on)
                VALUES (:m, :u, :k, :j, :l)
                ON CONFLICT (membership_id) DO UPDATE SET left_on = excluded.left_on
                """
            ),
            {
                "m": p.membership_id,
                "u": p.umkm_id,
                "k": p.koperasi_id,
                "j": p.joined_on,
                "l": p.left_on,
            },
        )

    async def on_anchor(
        self, session: AsyncSession, p: AnchorRegistered | AnchorUpdated, _: CloudEvent
    ) -> None:
        a = p.anchor
        stored = (
            await session.execute(
                text(
                    """
                    INSERT INTO anchors (id, version, name, sector, status)
                    VALUES (:id, :v, :name, :sector, :status)
                    ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                        name = excluded.name, sector = excluded.sector, status = excluded.status
                    WHERE anchors.version < excluded.version
                    RETURNING id
                    """
                ),
                {
                    "id": a.anchor_id,
                    "v": a.version,
                    "name": a.name,
                    "sector": a.sector,
                    "status": a.status,
                },
            )
        ).first()
        if stored is not None and self.live is not None:
            await self.live.resolve_anchor(session, a.anchor_id)
