"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _memory_total_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def describe(chromium_version: str) -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "memory_mb": _memory_total_mb(),
        "python": platform.python_version(),
        "chromium": chromium_version,
        "platform": platform.platform(),
    }
