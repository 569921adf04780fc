"""Events of the clustering service (topic `umkm.clustering.v1`).

- Cluster events carry a `ClusterSnapshot` keyed by the cluster's id (`cluster.version` grows).
- Membership changes come in batches (at most `MAX_MEMBERS_PER_EVENT` UMKM ids per event, keyed
  by the cluster that receives them), because a formation run assigns millions of UMKM at once.
  Each batch carries `assignment_seq`, a number that grows across all membership events of the
  service: a consumer keeps, per UMKM, the assignment with the highest sequence it has seen, which
  makes the read model correct whatever the order between partitions.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from umkm_shared.events.base import EventPayload, UtcDatetime

__all__ = [
    "CLUSTERING_SOURCE",
    "CLUSTERING_TOPIC",
    "MAX_MEMBERS_PER_EVENT",
    "ClusterFormed",
    "ClusterMembersAssigned",
    "ClusterMembersRemoved",
    "ClusterMerged",
    "ClusterSnapshot",
    "ClusterSplit",
    "ClusterUpdated",
    "FormationRunCompleted",
]

CLUSTERING_TOPIC = "umkm.clustering.v1"
CLUSTERING_SOURCE = "/clustering"
MAX_MEMBERS_PER_EVENT = 1000

ClusterStatus = Literal["forming", "active", "retired"]
AssignmentReason = Literal["formation", "new_umkm", "split", "merge", "rebalance", "changed"]


class ClusterSnapshot(BaseModel):
    """The state of one cluster after a change."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    cluster_id: UUID
    code: str = Field(description="Stable human code, e.g. 'KULINER-32.73-0001'")
    sector_code: str = Field(description="Cluster sector, e.g. 'kuliner', 'otomotif'")
    name: str
    province_code: str
    regency_codes: list[str] = Field(description="Kab/kota codes its members are in")
    status: ClusterStatus
    status_reason: str | None = Field(
        None, description="Why a cluster is 'forming' (undersized) or was retired"
    )
    member_count: int
    centre_latitude: float | None = None
    centre_longitude: float | None = None
    operator_anchor_id: UUID | None = None
    operator_umkm_id: UUID | None = None
    version: int
    updated_at: UtcDatetime


class _ClusterEvent(EventPayload):
    topic: ClassVar[str] = CLUSTERING_TOPIC
    key_field: ClassVar[str] = "cluster.cluster_id"

    cluster: ClusterSnapshot


class ClusterFormed(_ClusterEvent):
    """A new cluster exists (from a formation run, a split or a merge)."""

    event_type: ClassVar[str] = "id.umkm.clustering.cluster.formed"
    version: ClassVar[int] = 1

    run_id: UUID | None = None


class ClusterUpdated(_ClusterEvent):
    """A cluster's record changed (size, centre, status, operator, koperasi ...)."""

    event_type: ClassVar[str] = "id.umkm.clustering.cluster.updated"
    version: ClassVar[int] = 1

    changed_fields: list[str]


class ClusterSplit(_ClusterEvent):
    """`cluster` (now retired) grew past the maximum and was split into `into_cluster_ids`."""

    event_type: ClassVar[str] = "id.umkm.clustering.cluster.split"
    version: ClassVar[int] = 1

    into_cluster_ids: list[UUID]


class ClusterMerged(_ClusterEvent):
    """`cluster` (now retired) fell under the minimum and was merged into `into_cluster_id`."""

    event_type: ClassVar[str] = "id.umkm.clustering.cluster.merged"
    version: ClassVar[int] = 1

    into_cluster_id: UUID


class ClusterMembersAssigned(EventPayload):
    """UMKM joined `cluster_id`: newly assigned (`from_cluster_id` is None) or moved from
    another cluster."""

    event_type: ClassVar[str] = "id.umkm.clustering.members.assigned"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = CLUSTERING_TOPIC
    key_field: ClassVar[str] = "cluster_id"

    cluster_id: UUID
    sector_code: str
    from_cluster_id: UUID | None = None
    umkm_ids: list[UUID] = Field(max_length=MAX_MEMBERS_PER_EVENT)
    reason: AssignmentReason
    run_id: UUID | None = None
    assignment_seq: int = Field(description="Grows across all membership events")
    assigned_at: UtcDatetime


class ClusterMembersRemoved(EventPayload):
    """UMKM left `cluster_id` without joining another (deactivated, merged away, or no longer
    in a clustered sector)."""

    event_type: ClassVar[str] = "id.umkm.clustering.members.removed"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = CLUSTERING_TOPIC
    key_field: ClassVar[str] = "cluster_id"

    cluster_id: UUID
    umkm_ids: list[UUID] = Field(max_length=MAX_MEMBERS_PER_EVENT)
    reason: str
    assignment_seq: int
    removed_at: UtcDatetime


class FormationRunCompleted(EventPayload):
    """A formation run finished; its clusters and memberships were published before it."""

    event_type: ClassVar[str] = "id.umkm.clustering.formation.completed"
    version: ClassVar[int] = 1
    topic: ClassVar[str] = CLUSTERING_TOPIC
    key_field: ClassVar[str] = "run_id"

    run_id: UUID
    clusters: int
    members: int
    moved: int
    undersized_groups: int
    completed_at: UtcDatetime
