"""What every benchmark records about the machine it ran on (imported by the bench scripts,
which run as `python bench/<name>.py`, so this folder is on sys.path)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info(**extra: Any) -> dict[str, Any]:
    """CPU, memory, Python and load at the start of the run, plus `extra` (library versions,
    notes)."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or None,
        "memory_gb": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        **extra,
    }
