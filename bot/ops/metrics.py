"""The daemon's Prometheus metrics, in a registry of its own (several daemons in one test process never mix).

Events are counted where they happen (the pipeline calls `Metrics`); what is a state of the daemon (queue depth,
breakers, the connection, the browser's memory) is read when Prometheus scrapes, through `LiveState`, so nothing
polls and a scrape always sees the present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.resilience import BreakerState, CircuitBreaker
from bot.storage import utc_now
from bot.whatsapp.profile import chromium_pids
from bot.whatsapp.states import ConnectionState

PREFIX = "whatsapp_bot"
BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
# Seconds. Detection spans a live message (about a second: WhatsApp's times are whole seconds) to a catch-up
# after hours offline; a model call a second to the AI deadline; a send a fraction of a second to a held send.
DETECTION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0)
AI_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ReplyOutcome(StrEnum):
    """How a contact's turn ended: a reply sent (the first four) or none."""

    MODEL = "model"
    FALLBACK = "fallback"  # the model did not answer; the fixed fallback reply went out
    POLITE = "polite"  # a fixed answer without the model: media it cannot read, the flood notice
    ESCALATED = "escalated"  # handed to the operator, with the holding reply
    SKIPPED = "skipped"  # not answered on purpose (rules, a pause, already covered by the fallback)
    STALE = "stale"  # too old when the bot got to it
    FAILED = "failed"  # answering raised, or WhatsApp refused the reply


class QueueDepth(Protocol):
    @property
    def waiting(self) -> int: ...

    @property
    def running(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LiveState:
    """The parts of the running daemon the gauges (and /readyz) read when asked."""

    connection: Callable[[], ConnectionState]
    database_up: Callable[[], bool]
    queue: QueueDepth
    breakers: Mapping[str, CircuitBreaker]
    profile_dir: Path  # the browser's memory: the Chromium processes running on this profile


class Metrics:
    """Counters and histograms the pipeline moves, plus the process's own metrics; `watch` adds the gauges."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._live: _LiveCollector | None = None
        self._received = Counter(
            f"{PREFIX}_messages_received",
            "Messages WhatsApp handed the bot; one can come twice (live and from the unread chats after a reconnect), "
            "messages_stored counts each once",
            registry=self.registry,
        )
        self._stored = Counter(
            f"{PREFIX}_messages_stored", "Incoming messages stored (duplicates not counted)", registry=self.registry
        )
        self._replies = Counter(
            f"{PREFIX}_replies",
            "Turns by how they ended: a reply sent (model, fallback, polite, escalated) or none (skipped, stale, "
            "failed)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ReplyOutcome:
            self._replies.labels(outcome.value)  # every outcome shows, at 0, from the first scrape
        self._detection = Histogram(
            f"{PREFIX}_detection_latency_seconds",
            "From the time WhatsApp gives a message to its being stored",
            buckets=DETECTION_BUCKETS,
            registry=self.registry,
        )
        self._ai = Histogram(
            f"{PREFIX}_ai_latency_seconds",
            "One reply from the model, its retries included (fallbacks without a call not counted)",
            buckets=AI_BUCKETS,
            registry=self.registry,
        )
        self._send = Histogram(
            f"{PREFIX}_send_latency_seconds",
            "One message part handed to WhatsApp Web until it took it (pacing not included)",
            buckets=SEND_BUCKETS,
            registry=self.registry,
        )
        if process:
            ProcessCollector(registry=self.registry)

    def received(self) -> None:
        self._received.inc()

    def stored(self, wa_time: datetime | None) -> None:
        self._stored.inc()
        if wa_time is not None:
            # A clock behind WhatsApp's would give a negative time.
            self._detection.observe(max(0.0, (utc_now() - wa_time).total_seconds()))

    def turn_ended(self, outcome: ReplyOutcome) -> None:
        self._replies.labels(outcome.value).inc()

    def ai_answered(self, seconds: float) -> None:
        self._ai.observe(seconds)

    def sent(self, seconds: float) -> None:
        self._send.observe(seconds)

    def watch(self, live: LiveState) -> None:
        """Read these parts at each scrape from now on (replacing any watched before)."""
        if self._live is not None:
            self.registry.unregister(self._live)
        self._live = _LiveCollector(live)
        self.registry.register(self._live)

    def render(self) -> bytes:
        """The Prometheus text exposition format."""
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    def __init__(self, live: LiveState) -> None:
        self._live = live

    def collect(self) -> Iterator[Metric]:
        live = self._live
        queue = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Contacts waiting for a turn, or in one", labels=["state"])
        queue.add_metric(["waiting"], live.queue.waiting)
        queue.add_metric(["running"], live.queue.running)
        yield queue

        breakers = GaugeMetricFamily(
            f"{PREFIX}_breaker_state", "Circuit breakers: 0 closed, 1 half-open, 2 open", labels=["breaker"]
        )
        for name, breaker in live.breakers.items():
            breakers.add_metric([name], BREAKER_VALUES[breaker.state])
        yield breakers

        current = live.connection()
        connection = GaugeMetricFamily(
            f"{PREFIX}_connection_state", "The WhatsApp connection's state: 1 for the current one", labels=["state"]
        )
        for state in ConnectionState:
            connection.add_metric([state.value], 1.0 if state is current else 0.0)
        yield connection

        yield GaugeMetricFamily(f"{PREFIX}_database_up", "1 while MongoDB answers", value=float(live.database_up()))

        pids = chromium_pids(live.profile_dir)
        yield GaugeMetricFamily(
            f"{PREFIX}_browser_processes", "Chromium processes running on the account's profile", value=len(pids)
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_browser_resident_memory_bytes",
            "Resident memory of those Chromium processes, summed (pages they share are counted in each)",
            value=sum(resident_bytes(pid) for pid in pids),
        )


def resident_bytes(pid: int) -> int:
    """VmRSS of a process, from /proc; 0 if it is gone (or hides it)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024  # "VmRSS:   123456 kB"
    except (OSError, ValueError):
        return 0
    return 0
