"""Prometheus metrics of formation runs (shown on /metrics with the shared components' series)."""

from prometheus_client import Counter, Gauge

from umkm_shared.library_metrics import LIBRARY_REGISTRY

FORMATION_PROGRESS = Gauge(
    "umkm_formation_progress_ratio",
    "Progress of the formation run in this process (0-1; 1 when the last run finished)",
    registry=LIBRARY_REGISTRY,
)
FORMATION_RUNS = Counter(
    "umkm_formation_runs_total",
    "Formation runs finished, by outcome (succeeded, failed)",
    ["outcome"],
    registry=LIBRARY_REGISTRY,
)
