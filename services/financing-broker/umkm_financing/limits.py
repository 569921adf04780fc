"""The limits ledger: layered limits that no reservation or utilisation may ever exceed.

Layers of one programme (a bank ↔ anchor facility), each a row of `limit_layers`:
- `anchor_cap`: the bank's exposure cap on the anchor, across all its programmes with it;
- `programme`: the programme limit;
- `supplier`: the sub-limit of one UMKM supplier in the programme (created on first use with the
  programme's default sub-limit; the bank may set it per supplier).

Available = limit − used − reserved. An offer reserves its amount on all three layers; a lapse,
rejection or withdrawal releases it; disbursement turns it into used (releasing any part not
disbursed); repaid principal recovers it ("recovers only when repayment clears").

Concurrency: every change is a conditional `UPDATE ... SET reserved = reserved + :x WHERE id = :id
AND reserved + used + :x <= limit RETURNING`, one layer at a time in ascending id order, inside
the caller's transaction. The UPDATE row lock serialises writers of a layer and PostgreSQL
re-checks the WHERE against the committed row after waiting (READ COMMITTED), so two concurrent
reservations can never both pass on the last Rupiah; the fixed order means two transactions never
wait on each other in a cycle. If any layer refuses, the caller's transaction rolls back, so a
reservation is all layers or none. The CHECK constraint `reserved + used <= limit` is the last
guard. Every change also appends a row to `limit_entries` (the audit trail the layers reconcile
to).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from umkm_shared.errors import Conflict
from umkm_shared.ids import new_id

from .models import LimitEntry, LimitLayer, Programme


class LimitExceeded(Conflict):
    """409: an amount does not fit in one of the layers (named in `layer`)."""


_RESERVE = text(
    "UPDATE limit_layers SET reserved_idr = reserved_idr + :amount, updated_at = now() "
    "WHERE id = :id AND reserved_idr + used_idr + :amount <= limit_idr RETURNING id"
)
_SHIFT = text(
    "UPDATE limit_layers SET reserved_idr = reserved_idr - :release, "
    "used_idr = used_idr + :use - :recover, updated_at = now() "
    "WHERE id = :id AND reserved_idr >= :release AND used_idr + :use >= :recover RETURNING id"
)


async def anchor_cap_layer(
    session: AsyncSession, bank_id: uuid.UUID, anchor_id: uuid.UUID, default_limit: int
) -> uuid.UUID:
    """The bank's cap on the anchor, created with `default_limit` when it has none yet."""
    await session.execute(
        pg_insert(LimitLayer)
        .values(
            id=new_id(),
            kind="anchor_cap",
            bank_id=bank_id,
            anchor_id=anchor_id,
            limit_idr=default_limit,
            reserved_idr=0,
            used_idr=0,
        )
        .on_conflict_do_nothing(
            index_elements=["bank_id", "anchor_id"], index_where=text("kind = 'anchor_cap'")
        )
    )
    layer_id = await session.scalar(
        select(LimitLayer.id).where(
            LimitLayer.kind == "anchor_cap",
            LimitLayer.bank_id == bank_id,
            LimitLayer.anchor_id == anchor_id,
        )
    )
    assert layer_id is not None
    return layer_id


async def supplier_layer(
    session: AsyncSession, programme: Programme, umkm_id: uuid.UUID, limit_idr: int | None = None
) -> uuid.UUID:
    """The supplier's sub-limit row in the programme (created on first use)."""
    await session.execute(
        pg_insert(LimitLayer)
        .values(
            id=new_id(),
            kind="supplier",
            bank_id=programme.bank_id,
            anchor_id=programme.anchor_id,
            programme_id=programme.id,
            umkm_id=umkm_id,
            limit_idr=limit_idr if limit_idr is not None else programme.supplier_sublimit_idr,
            reserved_idr=0,
            used_idr=0,
        )
        .on_conflict_do_nothing(
            index_elements=["programme_id", "umkm_id"], index_where=text("kind = 'supplier'")
        )
    )
    layer_id = await session.scalar(
        select(LimitLayer.id).where(
            LimitLayer.kind == "supplier",
            LimitLayer.programme_id == programme.id,
            LimitLayer.umkm_id == umkm_id,
        )
    )
    assert layer_id is not None
    return layer_id


async def layers_of(
    session: AsyncSession, programme: Programme, umkm_id: uuid.UUID
) -> list[uuid.UUID]:
    """The ids of the three layers an amount for `umkm_id` in `programme` counts against."""
    rows = (
        await session.execute(
            select(LimitLayer.id, LimitLayer.kind).where(
                (
                    (LimitLayer.kind == "anchor_cap")
                    & (LimitLayer.bank_id == programme.bank_id)
                    & (LimitLayer.anchor_id == programme.anchor_id)
                )
                | ((LimitLayer.kind == "programme") & (LimitLayer.programme_id == programme.id))
            )
        )
    ).all()
    ids = [r[0] for r in rows]
    ids.append(await supplier_layer(session, programme, umkm_id))
    return ids


async def headroom(session: AsyncSession, programme: Programme, umkm_id: uuid.UUID) -> int:
    """The largest amount that fits in every layer now (no lock: for pre-screening only)."""
    rows = (
        await session.execute(
            select(
                LimitLayer.kind,
                LimitLayer.limit_idr - LimitLayer.reserved_idr - LimitLayer.used_idr,
            ).where(
                (
                    (LimitLayer.kind == "anchor_cap")
                    & (LimitLayer.bank_id == programme.bank_id)
                    & (LimitLayer.anchor_id == programme.anchor_id)
                )
                | ((LimitLayer.kind == "programme") & (LimitLayer.programme_id == programme.id))
                | (
                    (LimitLayer.kind == "supplier")
                    & (LimitLayer.programme_id == programme.id)
                    & (LimitLayer.umkm_id == umkm_id)
                )
            )
        )
    ).all()
    available = {kind: int(v) for kind, v in rows}
    available.setdefault("supplier", programme.supplier_sublimit_idr)
    return min(available.values()) if len(available) == 3 else 0


async def _explain(session: AsyncSession, layer_id: uuid.UUID, amount: int) -> LimitExceeded:
    layer = await session.get(LimitLayer, layer_id)
    assert layer is not None
    available = layer.limit_idr - layer.reserved_idr - layer.used_idr
    names = {
        "anchor_cap": "the bank's exposure cap on this anchor",
        "programme": "the programme limit",
        "supplier": "the supplier's sub-limit",
    }
    return LimitExceeded(
        detail=f"Rp {amount:,} does not fit in {names[layer.kind]}: Rp {available:,} available",
        extra={"layer": layer.kind, "available_idr": available, "requested_idr": amount},
    )


def _entry(
    programme: Programme,
    umkm_id: uuid.UUID,
    kind: str,
    amount: int,
    application_id: uuid.UUID | None,
    offer_id: uuid.UUID | None,
    reason: str | None,
) -> LimitEntry:
    return LimitEntry(
        programme_id=programme.id,
        bank_id=programme.bank_id,
        umkm_id=umkm_id,
        application_id=application_id,
        offer_id=offer_id,
        kind=kind,
        amount_idr=amount,
        reason=reason,
    )


async def reserve(
    session: AsyncSession,
    programme: Programme,
    umkm_id: uuid.UUID,
    amount: int,
    *,
    application_id: uuid.UUID | None = None,
    offer_id: uuid.UUID | None = None,
) -> None:
    """Reserve `amount` on every layer or raise LimitExceeded (the caller rolls back)."""
    if amount <= 0:
        raise ValueError("a reservation must be positive")
    for layer_id in sorted(await layers_of(session, programme, umkm_id)):
        done = (await session.execute(_RESERVE, {"id": layer_id, "amount": amount})).first()
        if done is None:
            raise await _explain(session, layer_id, amount)
    session.add(_entry(programme, umkm_id, "reserve", amount, application_id, offer_id, None))


async def shift(
    session: AsyncSession,
    programme: Programme,
    umkm_id: uuid.UUID,
    *,
    release: int = 0,
    use: int = 0,
    recover: int = 0,
    application_id: uuid.UUID | None = None,
    offer_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    """Move amounts between reserved and used on every layer: `release` leaves reserved,
    `use` moves into used (it must come out of reserved: pass it in `release` too), `recover`
    leaves used."""
    if release < 0 or use < 0 or recover < 0:
        raise ValueError("amounts must not be negative")
    if not (release or use or recover):
        return
    params = {"release": release, "use": use, "recover": recover}
    for layer_id in sorted(await layers_of(session, programme, umkm_id)):
        done = (await session.execute(_SHIFT, {"id": layer_id, **params})).first()
        if done is None:  # a ledger bug, never a client error: refuse rather than corrupt
            raise RuntimeError(f"limit layer {layer_id} cannot give back {params}")
    for kind, amount in (("release", release - use), ("use", use), ("recover", recover)):
        if amount > 0:
            session.add(_entry(programme, umkm_id, kind, amount, application_id, offer_id, reason))


async def lock_layers(session: AsyncSession, layer_ids: Sequence[uuid.UUID]) -> None:
    """Lock several programmes' layers at once, in ascending id order, before changing them
    one programme at a time (releasing the offers of several banks in one transaction must not
    take locks in a different order than a concurrent transaction doing the same)."""
    if layer_ids:
        await session.execute(
            select(LimitLayer.id)
            .where(LimitLayer.id.in_(sorted(set(layer_ids))))
            .order_by(LimitLayer.id)
            .with_for_update()
        )


async def set_limit(session: AsyncSession, layer_id: uuid.UUID, limit_idr: int) -> bool:
    """Change a layer's limit; False when it would fall under what is reserved and used."""
    done = (
        await session.execute(
            text(
                "UPDATE limit_layers SET limit_idr = :limit, updated_at = now() "
                "WHERE id = :id AND reserved_idr + used_idr <= :limit RETURNING id"
            ),
            {"id": layer_id, "limit": limit_idr},
        )
    ).first()
    return done is not None


async def layers_for_bank(
    session: AsyncSession, bank_id: uuid.UUID, programme_ids: Sequence[uuid.UUID] | None = None
) -> list[LimitLayer]:
    stmt = select(LimitLayer).where(LimitLayer.bank_id == bank_id)
    if programme_ids is not None:
        stmt = stmt.where(
            LimitLayer.programme_id.in_(programme_ids) | (LimitLayer.kind == "anchor_cap")
        )
    stmt = stmt.order_by(LimitLayer.kind, LimitLayer.id)
    return list((await session.execute(stmt)).scalars())
