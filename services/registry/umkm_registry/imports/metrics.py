"""Prometheus metrics of bulk imports (on /metrics with the shared components' series)."""

from prometheus_client import Counter

from umkm_shared.library_metrics import LIBRARY_REGISTRY

IMPORT_ROWS = Counter(
    "umkm_import_rows_total",
    "Import rows by outcome: staged (parsed and valid), failed (in the error report), then "
    "inserted, updated, unchanged, duplicate when merged (a batch redone after a crash counts "
    "again)",
    ["outcome"],
    registry=LIBRARY_REGISTRY,
)
