"""Who is calling: the authenticated actor every endpoint receives from its auth dependency."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, or_, true

# Kemendagri region codes in dotted form: province "32", kab/kota "32.73",
# kecamatan "32.73.01", desa/kelurahan "32.73.01.1001".
WILAYAH_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
DINAS_WILAYAH = re.compile(r"^\d{2}(\.\d{2})?$")  # a Dinas is provincial or kab/kota


class ActorKind(StrEnum):
    MINISTRY = "ministry"
    DINAS = "dinas"
    BANK = "bank"
    ANCHOR = "anchor"
    KOPERASI = "koperasi"
    SERVICE = "service"  # our own services and jobs calling each other


# Kinds that act for one organisation and must name it in actor_id.
_NEEDS_ACTOR_ID = frozenset({ActorKind.BANK, ActorKind.ANCHOR, ActorKind.KOPERASI})


class Actor(BaseModel):
    """An authenticated caller (from an access token)."""

    model_config = ConfigDict(frozen=True)

    kind: ActorKind
    client_id: str
    actor_id: str | None = Field(None, description="The bank, anchor or koperasi id.")
    wilayah: str | None = Field(None, description="Dinas only: its region code prefix.")
    scopes: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _check_kind_fields(self) -> Actor:
        if self.kind is ActorKind.DINAS:
            if not self.wilayah or not DINAS_WILAYAH.match(self.wilayah):
                raise ValueError(
                    "a Dinas needs wilayah: a province ('32') or kab/kota ('32.73') code"
                )
        elif self.wilayah is not None:
            raise ValueError("only a Dinas has a wilayah")
        if self.kind in _NEEDS_ACTOR_ID and not self.actor_id:
            raise ValueError(f"a {self.kind} actor needs actor_id")
        return self

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def can_access_wilayah(self, code: str) -> bool:
        """Ministry and our services: every region. Dinas: codes at or under its wilayah
        ("32.73" matches "32.73" and "32.73.01.1001", not "32.7" nor "32.730").
        Banks, anchors and koperasi are scoped by ownership (actor_id), not by region."""
        if self.kind in (ActorKind.MINISTRY, ActorKind.SERVICE):
            return True
        if self.kind is ActorKind.DINAS and self.wilayah:
            return code == self.wilayah or code.startswith(self.wilayah + ".")
        return False

    def log_fields(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "actor_kind": str(self.kind),
            "actor_id": self.actor_id,
        }


def wilayah_clause(column: ColumnElement[str], actor: Actor) -> ColumnElement[bool]:
    """SQL filter equal to `actor.can_access_wilayah(column)` for repositories to add
    (an index on the code column serves the LIKE prefix with text_pattern_ops/C collation)."""
    if actor.kind in (ActorKind.MINISTRY, ActorKind.SERVICE):
        return true()
    if actor.kind is ActorKind.DINAS and actor.wilayah:
        # wilayah is digits and dots only (validated), so no LIKE wildcards can sneak in.
        return or_(column == actor.wilayah, column.like(actor.wilayah + ".%"))
    return ~true()
