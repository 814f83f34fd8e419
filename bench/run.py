"""One benchmark run: the floors first (a plain page, the store), then the daemon's figures, then the SDK's CPU
share, then time to ready. The simulator runs in its own process throughout."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import machine, report, store
from bench.db_floor import measure_db_writes
from bench.floors import measure_floors
from bench.profiling import require_profiler
from bench.ready import Store, time_to_ready
from bench.scenarios import daemon_settings, progress, run_daemon
from bench.sdk import sdk_cpu
from bench.simulator_process import SimulatorProcess
from bot.settings import MEMORY_URI
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
    mongodb_uri: str = MEMORY_URI
    profile: Path | None = None
    results_dir: Path = RESULTS_DIR

    @classmethod
    def quick(cls, **overrides: Any) -> Options:
        sizes: dict[str, Any] = dict(messages=20, floor_samples=20, burst_contacts=20, burst_messages=2,
                                     memory_messages=200, memory_contacts=10)  # fmt: skip
        return cls(**(sizes | overrides))


async def run_bench(options: Options) -> tuple[dict[str, Any], Path]:
    """Measure everything; returns the result and the JSON file it was written to."""
    if options.profile is not None:
        require_profiler()
    name = options.name or time.strftime("%Y%m%d-%H%M%S")
    uri = options.mongodb_uri
    daemon_db, floor_db, ready_db = (store.database_name(name, purpose) for purpose in ("", "floor", "ready"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        # Left over by an interrupted run of the same name, a database (and its account lease) would skew this one.
        await store.drop(uri, daemon_db, ready_db)
        try:
            async with (
                SimulatorProcess(Path(folder)) as simulator,
                SimulatorClient(simulator.base_url, timeout_s=30.0) as sim,
            ):
                progress(f"floor: {options.floor_samples} samples each (browser, then {store.describe(uri)})")
                floors = await measure_floors(simulator.base_url, sim, options.floor_samples)
                floor_db_writes = await measure_db_writes(uri, floor_db, options.floor_samples)
                settings = daemon_settings(Path(folder), simulator, uri, daemon_db)
                figures = await run_daemon(
                    sim,
                    settings,
                    messages=options.messages,
                    burst_contacts=options.burst_contacts,
                    burst_messages=options.burst_messages,
                    memory_messages=options.memory_messages,
                    memory_contacts=options.memory_contacts,
                    delay_ms=options.model_delay_ms,
                    profile=options.profile,
                )
                progress(f"SDK: {options.messages} calls of the bot's responder")
                await sim.gemini_behaviour()
                sdk = await sdk_cpu(settings, options.messages)
                progress("time to ready: two starts of run_bot.py run")
                ready = await time_to_ready(Path(folder) / "ready", simulator, sim, Store(uri, ready_db))
        finally:
            await store.drop(uri, daemon_db, ready_db)
    cpu = figures["cpu"]
    cpu["sdk_cpu_per_call_ms"] = sdk["cpu_per_call_ms"]
    cpu["sdk_share"] = round(sdk["cpu_per_call_ms"] / cpu["cpu_per_message_ms"], 3) if cpu["cpu_per_message_ms"] else 0
    result: dict[str, Any] = {
        "name": name,
        "options": {key: _plain(value) for key, value in asdict(options).items() if key != "results_dir"},
        "store": store.describe(uri),
        "machine": machine.describe(floors["chromium"]),
        "floor_binding": floors["binding"],
        "floor_send": floors["send"],
        "floor_db_writes": floor_db_writes,
        **figures,
        "sdk": sdk,
        "time_to_ready": ready,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    result["options"]["mongodb_uri"] = result["store"]  # never the credentials a URI may carry
    result["ratios"] = report.ratios(result)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = options.results_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result, path


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
