"""--profile PATH: pyinstrument over the sequential phase, its text report at PATH and an HTML one beside it.

async_mode="disabled": the daemon's work runs in its own tasks (inbox, workers, outbox), not in the bench's
driver task; pyinstrument's "enabled" mode samples only the task that started it and would show the driver
waiting. "disabled" samples whatever runs on the loop's thread, which is the daemon's hot path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MISSING = "--profile needs pyinstrument: pip install -e .[bench]"


def require_profiler() -> None:
    """Fail at once, before anything starts, when pyinstrument is not installed."""
    if importlib.util.find_spec("pyinstrument") is None:
        raise RuntimeError(MISSING)


def html_path(path: Path) -> Path:
    return path.with_name(path.name + ".html") if path.suffix == ".html" else path.with_suffix(".html")


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """Profile the block into `path` (text) and its .html sibling; nothing at all without a path."""
    if path is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        html_path(path).write_text(profiler.output_html())
