"""Identifiers for our own records: UUIDv7 (time-ordered, so B-tree inserts stay local)."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """A new UUIDv7 as a standard-library UUID (what SQLAlchemy and Pydantic expect)."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
