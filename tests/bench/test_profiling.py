"""--profile: a text and an HTML report of the profiled block, and a clear failure without pyinstrument."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import profiling
from bench.__main__ import parse


def _busy_work() -> int:
    return sum(index * index for index in range(300_000))


async def _worker(jobs: asyncio.Queue[None]) -> None:
    while True:
        await jobs.get()
        _busy_work()
        jobs.task_done()


async def test_the_report_shows_work_done_in_tasks_started_before_it(tmp_path: Path) -> None:
    """As the daemon's tasks are: started with it, long before the sequential phase is profiled."""
    jobs: asyncio.Queue[None] = asyncio.Queue()
    worker = asyncio.create_task(_worker(jobs))
    path = tmp_path / "out" / "profile.txt"
    try:
        with profiling.profiled(path):
            for _ in range(3):
                jobs.put_nowait(None)
                async with asyncio.timeout(30):
                    await jobs.join()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert "_busy_work" in path.read_text()
    assert (tmp_path / "out" / "profile.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_no_path_no_profile(tmp_path: Path) -> None:
    with profiling.profiled(None):
        _busy_work()
    assert list(tmp_path.iterdir()) == []


def test_without_pyinstrument_profile_fails_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(profiling.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"pip install -e \.\[bench\]"):
        profiling.require_profiler()
    with pytest.raises(SystemExit):
        parse(["--quick", "--profile", "p.txt"])
    assert "pip install -e .[bench]" in capsys.readouterr().err
    assert parse(["--quick"]).profile is None
