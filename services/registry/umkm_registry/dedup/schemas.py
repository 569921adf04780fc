"""Request and response bodies of the duplicate review API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..schemas import UmkmOut

CandidateStatus = Literal["open", "merged", "kept_both", "superseded"]
Step = Literal["merge", "keep-both"]


class CandidateOut(BaseModel):
    id: uuid.UUID
    status: CandidateStatus = Field(
        description="open: waiting for a decision; merged / kept_both: decided (final); "
        "superseded: closed because a merge or a change made the pair moot"
    )
    score: float = Field(description="Name similarity 0-100 (rapidfuzz token_set_ratio)")
    reason: str
    province_code: str
    regency_code: str
    village_code: str
    a: UmkmOut | None = Field(description="The record with the smaller id, as it is now")
    b: UmkmOut | None = Field(description="The other record, as it is now")
    allowed: list[Step] = Field(description="The decisions still possible")
    survivor_id: uuid.UUID | None = None
    note: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    created_at: datetime


class MergeBody(BaseModel):
    """Which record continues: give `survivor` (its id) or `keep` ("a" or "b"), not both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"keep": "a"}, {"survivor": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b"}]
        },
    )

    survivor: uuid.UUID | None = None
    keep: Literal["a", "b"] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MergeBody:
        if (self.survivor is None) == (self.keep is None):
            raise ValueError('give exactly one of survivor (a record id) or keep ("a" or "b")')
        return self


class MergeResult(BaseModel):
    candidate: CandidateOut
    survivor: UmkmOut
    merged: UmkmOut


class MergeOut(BaseModel):
    id: uuid.UUID
    candidate_id: uuid.UUID | None
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    filled_fields: list[str] = Field(description="Fields the survivor took from the merged record")
    merged_record: dict[str, Any] = Field(description="The merged record just before the merge")
    survivor_before: dict[str, Any] = Field(description="The survivor just before the merge")
    decided_by: str
    merged_at: datetime
