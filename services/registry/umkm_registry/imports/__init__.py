"""Registry: bulk import of UMKM files (CSV, XLSX, NDJSON) by a Dinas or the ministry.

upload.py     the request body to a spool file (hashed, size-capped, encoding sniffed)
readers.py    files as streams of raw rows (format, delimiter, header row)
columns.py    headers -> fields (Indonesian and English aliases, per-upload override)
normalize.py  raw values -> stored values or row errors (parse worker processes)
loader.py     COPY into staging, pick each business's last row, set-based merge + events
worker.py     the background worker: claim, stage, merge, resume after a crash
endpoints.py  the HTTP API; docs/import.md is the user guide
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import ImportSettings
    from .worker import ImportWorker

__all__ = ["ImportSettings", "ImportWorker"]


def __getattr__(name: str) -> Any:
    # lazy: the parse worker processes import normalize.py only, not the database stack
    if name == "ImportSettings":
        from .settings import ImportSettings

        return ImportSettings
    if name == "ImportWorker":
        from .worker import ImportWorker

        return ImportWorker
    raise AttributeError(name)
