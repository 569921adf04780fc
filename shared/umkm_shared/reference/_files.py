"""Reading the CSV files shipped in `umkm_shared/reference/data/` (plain or gzipped)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from importlib import resources


def read_rows(name: str) -> Iterator[list[str]]:
    """Rows of data file `name` (e.g. "wilayah_2025.csv"), header skipped.

    Looks for `name` and then `name + ".gz"`, so a file can be compressed without touching loaders.
    """
    folder = resources.files(__package__) / "data"
    plain = folder / name
    if plain.is_file():
        text = plain.read_text(encoding="utf-8")
    else:
        text = gzip.decompress((folder / (name + ".gz")).read_bytes()).decode("utf-8")
    rows = csv.reader(io.StringIO(text, newline=""))
    next(rows)
    return rows
