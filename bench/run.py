"""One benchmark run: the floor first (a plain page), then the daemon's figures, then time to ready."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.floors import measure_floors
from bench.ready import time_to_ready
from bench.scenarios import progress, run_daemon
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Options:
    name: str | None = None
    messages: int = 100
    floor_samples: int = 100
    burst_contacts: int = 200
    burst_messages: int = 5
    memory_messages: int = 10_000
    memory_contacts: int = 20
    model_delay_ms: float = 0.0
    results_dir: Path = RESULTS_DIR

    @classmethod
    def quick(cls, **overrides: Any) -> Options:
        sizes: dict[str, Any] = dict(messages=20, floor_samples=20, burst_contacts=20, burst_messages=2,
                                     memory_messages=200, memory_contacts=10)  # fmt: skip
        return cls(**(sizes | overrides))


async def run_bench(options: Options) -> tuple[dict[str, Any], Path]:
    """Measure everything; returns the result and the JSON file it was written to."""
    name = options.name or time.strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        async with Simulator() as simulator, SimulatorClient(simulator.base_url, timeout_s=30.0) as sim:
            progress(f"floor: {options.floor_samples} samples each")
            floors = await measure_floors(simulator, sim, options.floor_samples)
            figures = await run_daemon(
                Path(folder),
                simulator,
                sim,
                messages=options.messages,
                burst_contacts=options.burst_contacts,
                burst_messages=options.burst_messages,
                memory_messages=options.memory_messages,
                memory_contacts=options.memory_contacts,
                delay_ms=options.model_delay_ms,
            )
            progress("time to ready: two starts of run_bot.py run")
            ready = await time_to_ready(Path(folder) / "ready", simulator, sim)
    result: dict[str, Any] = {
        "name": name,
        "options": {key: value for key, value in asdict(options).items() if key != "results_dir"},
        "machine": machine.describe(floors["chromium"]),
        "floor_binding": floors["binding"],
        "floor_send": floors["send"],
        **figures,
        "time_to_ready": ready,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    result["ratios"] = report.ratios(result)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = options.results_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result, path
