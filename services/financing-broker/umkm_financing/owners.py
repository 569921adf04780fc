"""Who owns webhook endpoints: a bank (signed request) or an anchor (token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from umkm_shared.auth import Actor, require_actor

from .snap import SignedBank, signed_bank


async def bank_owner(signed: Annotated[SignedBank, Depends(signed_bank)]) -> tuple[str, str]:
    return "bank", str(signed.bank_id)


async def anchor_owner(
    actor: Annotated[Actor, Depends(require_actor("anchor"))],
) -> tuple[str, str]:
    return "anchor", actor.actor_id or ""
