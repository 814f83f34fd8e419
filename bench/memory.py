"""Memory of this process (VmRSS) and of a process tree (PSS, which shares libraries fairly between processes)."""

from __future__ import annotations

import os
from pathlib import Path


def _kib_field(path: Path, field: str) -> int:
    """A `Name:   1234 kB` line of a /proc file, in KiB; 0 when the process is gone."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MB."""
    return round(_kib_field(Path(f"/proc/{pid or os.getpid()}/status"), "VmRSS") / 1024, 1)


def pss_mb(pids: list[int]) -> float:
    """Summed proportional set size of these processes, in MB."""
    return round(sum(_kib_field(Path(f"/proc/{pid}/smaps_rollup"), "Pss") for pid in pids) / 1024, 1)
