"""Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out.

The cursor is opaque to clients: base64url of the JSON of the last row's sort key. A cursor
that does not decode (or does not fit the endpoint's key schema) is a 422 naming
`query.cursor`. It is not signed: a forged cursor only moves the start position, and every
query still applies the caller's tenant filters.

    @router.get("/v1/umkm")
    async def search(actor: DinasActor, limit: LimitQuery = 50, cursor: CursorQuery = None):
        after = decode_cursor(cursor, UmkmKey)              # UmkmKey: BaseModel(created_at, id)
        rows = await repo.search(actor, after=after, limit=limit + 1)
        return Page.from_rows(rows, limit, key=lambda r: {"created_at": r.created_at, "id": r.id})
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar, overload

import orjson
from fastapi import Query
from pydantic import BaseModel, Field, ValidationError

from umkm_shared.errors import invalid

T = TypeVar("T")
K = TypeVar("K", bound=BaseModel)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_FIELD = "query.cursor"

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=1024, description="`next_cursor` of the previous page; omit for the first."),
]


def encode_cursor(key: BaseModel | dict[str, Any] | Sequence[Any]) -> str:
    data = key.model_dump(mode="json") if isinstance(key, BaseModel) else key
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


@overload
def decode_cursor(cursor: str | None, schema: type[K]) -> K | None: ...
@overload
def decode_cursor(cursor: str | None, schema: None = None) -> Any: ...
def decode_cursor(cursor: str | None, schema: type[K] | None = None) -> K | Any | None:
    """The sort key in `cursor` (validated into `schema` if given); None for no cursor."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise invalid(CURSOR_FIELD, "Invalid cursor; use next_cursor from a previous page.") from e
    if schema is None:
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise invalid(CURSOR_FIELD, "Invalid cursor; use next_cursor from a previous page.") from e


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null at the end."
    )

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[T],
        limit: int,
        key: Callable[[T], BaseModel | dict[str, Any] | Sequence[Any]],
    ) -> Page[T]:
        """`rows` fetched with `limit + 1`: the extra row only says another page exists."""
        items = list(rows[:limit])
        more = len(rows) > limit and items
        return cls(items=items, next_cursor=encode_cursor(key(items[-1])) if more else None)
