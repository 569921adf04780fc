"""Bodies of the import API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Submitter(BaseModel):
    client_id: str
    kind: str
    wilayah: str | None = Field(description="A Dinas's wilayah: rows outside it are refused")


class Progress(BaseModel):
    phase: Literal["staging", "merging", "finished"] = Field(
        description="staging: reading and checking rows; merging: writing records"
    )
    rows_done: int = Field(description="Rows read and checked so far")
    bytes_done: int
    bytes_total: int
    rows_per_second: float | None = Field(description="Rows read per second since the start")
    errors_so_far: int = Field(description="Rows refused so far")
    businesses_merged: int
    businesses_total: int = Field(description="Known once staging is done")


class Counts(BaseModel):
    rows_total: int = Field(description="Data rows in the file (blank rows excluded)")
    rows_ok: int = Field(description="Rows accepted: inserted + updated + unchanged + duplicate")
    rows_failed: int = Field(description="Rows refused; see the error report")
    rows_duplicate: int = Field(
        description="Rows repeating a business that appears again later in the file (the last "
        "row of each business is the one applied)"
    )
    inserted: int = Field(description="New records")
    updated: int = Field(description="Existing records with at least one changed value")
    unchanged: int = Field(description="Existing records the file left as they were")


class ImportJobOut(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "running", "done", "failed"]
    file_name: str
    format: str
    size_bytes: int
    sha256: str
    submitted_by: Submitter
    column_mapping: dict[str, str | None]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: Progress
    counts: Counts
    summary: dict[str, Any] = Field(
        description="Header row, column map, ignored columns, encoding, delimiter, timings, "
        "warnings"
    )
    error: str | None = Field(description="Why the job failed (file-level problems)")
    links: dict[str, str]


class ImportPage(BaseModel):
    items: list[ImportJobOut]
    next_cursor: str | None


class RowErrorOut(BaseModel):
    row: int = Field(description="Data row: 1 = the first row after the header")
    line: int = Field(description="Row number as a spreadsheet shows it (NDJSON: the line)")
    column: str | None = Field(description="The column header as written in the file")
    value: str | None = Field(description="The value (cut to 200 characters; NIKs masked)")
    reason: str


class RowErrorPage(BaseModel):
    items: list[RowErrorOut]
    next_cursor: str | None


class ColumnOut(BaseModel):
    field: str
    header: str
    description: str
    aliases: list[str]
    required: bool


class RetryIn(BaseModel):
    column_mapping: dict[str, str | None] | None = Field(
        default=None, description="A new mapping restarts the job from the first row"
    )
