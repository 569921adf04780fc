"""The code base stays clean: ruff on everything, mypy --strict on the shared package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_shared_package_is_mypy_strict_clean() -> None:
    result = run("mypy", "shared/umkm_shared")
    assert result.returncode == 0, result.stdout + result.stderr
