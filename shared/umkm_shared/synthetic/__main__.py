"""CLI: `python -m umkm_shared.synthetic records|import-file ...` (see --help)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import orjson

from umkm_shared.synthetic._generate import BLOCK, generate_batches
from umkm_shared.synthetic.importfile import ENCODINGS, IMPORT_FORMATS, write_import_file

PROGRESS_FROM = 50_000  # print progress on stderr from this many rows


def _progress(label: str, enabled: bool) -> Callable[[int, int], None] | None:
    if not enabled:
        return None
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        end = "\n" if done >= total else ""
        print(
            f"\r{label}: {done:,}/{total:,} rows ({100 * done / max(total, 1):.0f}%), "
            f"{rate:,.0f} rows/s",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return report


def _records(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    report = _progress("records", args.progress or args.n >= PROGRESS_FROM)
    done = 0
    for batch in generate_batches(
        args.n, 4 * BLOCK, seed=args.seed, within=args.within, as_of=args.as_of
    ):
        out.write(b"".join(orjson.dumps(r.registry_json()) + b"\n" for r in batch.records()))
        done += len(batch)
        if report is not None:
            report(done, args.n)
    out.flush()
    return 0


def _import_file(args: argparse.Namespace) -> int:
    report = _progress("import-file", args.progress or args.n >= PROGRESS_FROM)
    manifest = write_import_file(
        args.out,
        args.n,
        fmt=args.format,
        seed=args.seed,
        invalid_share=args.invalid,
        duplicate_share=args.duplicates,
        within=args.within,
        encoding=args.encoding,
        header_style=args.headers,
        as_of=args.as_of,
        progress=report,
    )
    saved = manifest.save()
    print(
        f"wrote {manifest.rows:,} rows ({len(manifest.invalid_rows):,} invalid, "
        f"{len(manifest.duplicate_rows):,} duplicates, {manifest.distinct_businesses:,} "
        f"distinct businesses) to {args.out} in {manifest.seconds:.1f}s; manifest: {saved}",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m umkm_shared.synthetic", description="Synthetic UMKM data."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--n", type=int, required=True, help="number of records / data rows")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--within", help="only inside this wilayah code, e.g. 32.73 (dots optional)")
        p.add_argument("--as-of", type=date.fromisoformat, help="reference date (default today)")
        p.add_argument("--progress", action="store_true", help="progress on stderr for any n")

    records = sub.add_parser("records", help="registry JSON records as NDJSON on stdout")
    common(records)
    records.set_defaults(run=_records)

    imp = sub.add_parser("import-file", help="a Dinas-style import file plus its manifest")
    common(imp)
    imp.add_argument("--format", choices=IMPORT_FORMATS, default="csv")
    imp.add_argument("--out", type=Path, required=True)
    imp.add_argument("--invalid", type=float, default=0.02, help="share of invalid rows")
    imp.add_argument("--duplicates", type=float, default=0.01, help="share of duplicate rows")
    imp.add_argument("--encoding", choices=ENCODINGS, default="utf-8")
    imp.add_argument("--headers", choices=("id", "en"), default="id")
    imp.set_defaults(run=_import_file)

    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ValueError as exc:
        parser.error(str(exc))
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
