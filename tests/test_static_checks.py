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


def test_test_modules_have_unique_names() -> None:
    """Test folders are not packages (pytest's default import mode puts each on sys.path), so
    two `test_kafka.py` in different services would shadow each other at collection."""
    from collections import Counter

    names = Counter(
        p.name
        for folder in ("shared/tests", "services", "tests")
        for p in (ROOT / folder).rglob("*.py")
        if "tests" in p.parts and p.name != "conftest.py" and ".venv" not in p.parts
    )
    assert [name for name, n in names.items() if n > 1] == []
