"""Synthetic UMKM that look like Indonesia, for demo data, benchmarks and tests.

- `generate(n, seed=, within=)` yields `SyntheticUmkm` records (registry fields + what the
  generator knows); `generate_batches(n, batch_size, ...)` yields the same records as column
  batches (numpy arrays; `.to_polars()`, `.records()`).
- `write_import_file(path, n, fmt=...)` writes a Dinas-style import file (CSV, semicolon CSV,
  XLSX or NDJSON) with a known share of invalid and duplicate rows, and returns its manifest.
- CLI: `python -m umkm_shared.synthetic records|import-file --help`.

numpy is needed (imported lazily); polars only for `SyntheticBatch.to_polars()`, openpyxl only
for XLSX files.
"""

from umkm_shared.synthetic._generate import (
    BLOCK,
    COLUMNS,
    KbliRef,
    SyntheticBatch,
    SyntheticCertification,
    SyntheticUmkm,
    generate,
    generate_batches,
    max_records,
)
from umkm_shared.synthetic.importfile import (
    DEFECTS,
    FIELDS,
    HEADERS,
    DuplicateRow,
    ImportFileManifest,
    InvalidRow,
    write_import_file,
)

__all__ = [
    "BLOCK",
    "COLUMNS",
    "DEFECTS",
    "FIELDS",
    "HEADERS",
    "DuplicateRow",
    "ImportFileManifest",
    "InvalidRow",
    "KbliRef",
    "SyntheticBatch",
    "SyntheticCertification",
    "SyntheticUmkm",
    "generate",
    "generate_batches",
    "max_records",
    "write_import_file",
]
