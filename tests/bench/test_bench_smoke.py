"""`python -m bench --quick` end to end, so that the benchmark cannot rot: every figure present and sane."""

from __future__ import annotations

import json
from pathlib import Path

from bench import Options, run_bench
from bench.__main__ import parse

LATENCIES = ("detection", "reply_overhead", "floor_binding", "floor_send", "floor_db_writes")


def test_quick_flags_pick_small_sizes_and_keep_overrides() -> None:
    options = parse(["--quick", "--burst-contacts", "7", "--name", "x"])
    assert (options.burst_contacts, options.burst_messages, options.memory_messages) == (7, 2, 200)
    assert options.name == "x"
    assert parse([]).burst_contacts == 200 and parse([]).memory_messages == 10_000
    assert parse([]).mongodb_uri == "memory://" and parse([]).profile is None
    options = parse(["--mongodb-uri", "mongodb://127.0.0.1:1/", "--profile", "out/p.txt"])
    assert (options.mongodb_uri, options.profile) == ("mongodb://127.0.0.1:1/", Path("out/p.txt"))


async def test_quick_run_writes_every_figure(tmp_path: Path) -> None:
    _, path = await run_bench(Options.quick(name="smoke", results_dir=tmp_path))

    assert path == tmp_path / "smoke.json"
    result = json.loads(path.read_text())
    for key in LATENCIES:
        figure = result[key]
        assert figure["n"] >= 20, key
        assert 0 < figure["p50_ms"] <= figure["p95_ms"] <= figure["p99_ms"] <= figure["max_ms"] < 10_000, key
    assert set(result["ratios"]) == {"detection", "reply_overhead"}
    assert all(ratio > 0 for figure in result["ratios"].values() for ratio in figure.values())
    floors = sum(result[key]["p50_ms"] for key in ("floor_binding", "floor_send", "floor_db_writes"))
    assert result["ratios"]["reply_overhead"]["p50_ms"] == round(result["reply_overhead"]["p50_ms"] / floors, 1)
    assert result["store"] == "memory"

    cpu = result["cpu"]
    assert cpu["messages"] == 20 and cpu["cpu_per_message_ms"] > 0 and cpu["profiled"] is False
    assert cpu["sdk_cpu_per_call_ms"] > 0 and cpu["sdk_share"] > 0
    assert result["sdk"]["calls"] == 20

    throughput = result["throughput"]
    assert throughput["replies"] == throughput["messages"] == 40
    assert throughput["lost"] == 0 and throughput["duplicated"] == 0
    assert throughput["replies_per_s"] > 0

    memory = result["memory"]
    assert memory["messages"] == 200
    for checkpoint in ("idle", "at_half", "at_end", "after_browser_restart"):
        assert memory[checkpoint]["python_rss_mb"] > 10
        assert memory[checkpoint]["chromium_pss_mb"] > 10
    assert "python_growth_last_half_pct" in memory and "chromium_growth_last_half_pct" in memory

    ready = result["time_to_ready"]
    assert 0 < ready["ready_s"] <= ready["connected_s"] < 90

    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["memory_mb"] > 0 and machine["python"].startswith("3.")
    assert machine["chromium"][0].isdigit()
