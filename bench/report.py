"""The table printed at the end of a run and the ratios to the floor."""

from __future__ import annotations

from typing import Any

LATENCY_ROWS = [("detection", "detection"), ("reply overhead", "reply_overhead"),
                ("floor: binding", "floor_binding"), ("floor: send", "floor_send"),
                ("floor: db writes", "floor_db_writes")]  # fmt: skip


def ratios(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """detection / binding floor; reply overhead / (binding + send + db writes floor), at each percentile: the
    issue's targets are both within 2x."""
    binding, send, writes = result["floor_binding"], result["floor_send"], result["floor_db_writes"]
    out: dict[str, dict[str, float]] = {"detection": {}, "reply_overhead": {}}
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        out["detection"][key] = _ratio(result["detection"][key], binding[key])
        out["reply_overhead"][key] = _ratio(result["reply_overhead"][key], binding[key] + send[key] + writes[key])
    return out


def _ratio(value: float, floor: float) -> float:
    return round(value / floor, 1) if floor > 0 else float("inf")


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def table(result: dict[str, Any]) -> str:
    ratio = result["ratios"]
    rows = [["figure", "p50 ms", "p95 ms", "p99 ms", "x floor p50", "x floor p99"]]
    for label, key in LATENCY_ROWS:
        figure = result[key]
        to_floor = ratio.get(key, {})
        rows.append([label, *(f"{figure[p]:.1f}" for p in ("p50_ms", "p95_ms", "p99_ms")),
                     _times(to_floor.get("p50_ms")), _times(to_floor.get("p99_ms"))])  # fmt: skip
    throughput, memory, ready, cpu = result["throughput"], result["memory"], result["time_to_ready"], result["cpu"]
    lines = [
        _columns(rows),
        "",
        f"CPU (this process: the daemon and the driver): {cpu['cpu_per_message_ms']:.2f} ms per message over "
        f"{cpu['messages']} sequential messages{' (profiled)' if cpu['profiled'] else ''}; the SDK alone "
        f"(bot's responder, {result['sdk']['calls']} calls): {cpu['sdk_cpu_per_call_ms']:.2f} ms per call, "
        f"{cpu['sdk_share']:.0%} of it",
        f"throughput: {throughput['contacts']} contacts x {throughput['messages_per_contact']} messages: "
        f"{throughput['replies_per_s']} replies/s ({throughput['replies']} replies in {throughput['wall_s']} s), "
        f"lost {throughput['lost']}, duplicated {throughput['duplicated']}",
        f"memory: Python RSS {memory['idle']['python_rss_mb']} MB idle -> {memory['at_half']['python_rss_mb']} -> "
        f"{memory['at_end']['python_rss_mb']} MB after {memory['messages']} messages "
        f"(last half {memory['python_growth_last_half_pct']:+} %); Chromium PSS {memory['idle']['chromium_pss_mb']}"
        f" MB -> {memory['at_half']['chromium_pss_mb']} -> {memory['at_end']['chromium_pss_mb']} MB "
        f"(last half {memory['chromium_growth_last_half_pct']:+} %); after the daily browser restart: Chromium PSS "
        f"{memory['after_browser_restart']['chromium_pss_mb']} MB, Python RSS "
        f"{memory['after_browser_restart']['python_rss_mb']} MB",
        f"time to ready (linked profile): READY=1 after {ready['ready_s']} s, connected after {ready['connected_s']} s",
        f"store: {result['store']}; machine: {_machine(result['machine'])}",
    ]
    return "\n".join(lines)


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}x"


def _machine(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cores']} cores, {machine['memory_mb']:.0f} MB, Python {machine['python']}, "
        f"Chromium {machine['chromium']}, {machine['platform']}"
    )
