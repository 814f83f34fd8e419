"""The metrics: counters and histograms the pipeline moves, gauges read from the daemon's parts at scrape time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.metrics import LiveState, Metrics, ReplyOutcome, resident_bytes
from bot.pipeline import ConversationWorker, Outbox
from bot.pipeline.context import ContextRules, ContextSource
from bot.resilience import CircuitBreaker
from bot.storage import Database, utc_now
from bot.whatsapp import ConnectionState

from ..pipeline.conftest import EchoResponder, RecordingChat


@dataclass
class FakeQueue:
    waiting: int = 0
    running: int = 0


@dataclass
class Parts:
    """Stand-ins for the daemon's parts, changed by the tests between scrapes."""

    connection: ConnectionState = ConnectionState.STARTING
    database_up: bool = True


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed as Prometheus parses it, by name and labels."""
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def breaker(name: str) -> CircuitBreaker:
    return CircuitBreaker(name, failures=1, window_s=60.0, open_s=60.0)


@pytest.fixture
def live(tmp_path: Path) -> tuple[LiveState, Parts, FakeQueue]:
    parts, queue = Parts(), FakeQueue()
    state = LiveState(
        connection=lambda: parts.connection,
        database_up=lambda: parts.database_up,
        queue=queue,
        breakers={"ai": breaker("ai"), "send": breaker("send")},
        profile_dir=tmp_path / "profile",
    )
    return state, parts, queue


def test_counters_and_histograms_move() -> None:
    metrics = Metrics(process=False)
    metrics.received()
    metrics.received()
    metrics.stored(utc_now() - timedelta(seconds=3))
    metrics.turn_ended(ReplyOutcome.MODEL)
    metrics.turn_ended(ReplyOutcome.STALE)
    metrics.turn_ended(ReplyOutcome.STALE)
    metrics.ai_answered(1.5)
    metrics.sent(0.2)

    assert value(metrics, "whatsapp_bot_messages_received_total") == 2
    assert value(metrics, "whatsapp_bot_messages_stored_total") == 1
    assert value(metrics, "whatsapp_bot_replies_total", outcome="model") == 1
    assert value(metrics, "whatsapp_bot_replies_total", outcome="stale") == 2
    assert value(metrics, "whatsapp_bot_replies_total", outcome="escalated") == 0  # shown before it happens
    assert value(metrics, "whatsapp_bot_detection_latency_seconds_count") == 1
    assert 3 <= value(metrics, "whatsapp_bot_detection_latency_seconds_sum") < 10
    assert value(metrics, "whatsapp_bot_detection_latency_seconds_bucket", le="2.0") == 0
    assert value(metrics, "whatsapp_bot_detection_latency_seconds_bucket", le="5.0") == 1
    assert value(metrics, "whatsapp_bot_ai_latency_seconds_sum") == 1.5
    assert value(metrics, "whatsapp_bot_send_latency_seconds_count") == 1


def test_a_message_from_the_future_counts_as_detected_at_once() -> None:
    metrics = Metrics(process=False)
    metrics.stored(utc_now() + timedelta(seconds=30))  # this machine's clock is behind WhatsApp's
    assert value(metrics, "whatsapp_bot_detection_latency_seconds_sum") == 0


def test_each_daemon_has_a_registry_of_its_own() -> None:
    first, second = Metrics(), Metrics()  # the global registry would refuse the second set of names
    first.received()
    assert value(first, "whatsapp_bot_messages_received_total") == 1
    assert value(second, "whatsapp_bot_messages_received_total") == 0
    assert value(first, "process_resident_memory_bytes") > 0


def test_gauges_read_the_parts_at_each_scrape(live: tuple[LiveState, Parts, FakeQueue]) -> None:
    state, parts, queue = live
    metrics = Metrics(process=False)
    metrics.watch(state)
    assert value(metrics, "whatsapp_bot_connection_state", state="starting") == 1
    assert value(metrics, "whatsapp_bot_queue_depth", state="waiting") == 0

    parts.connection = ConnectionState.CONNECTED
    parts.database_up = False
    queue.waiting, queue.running = 4, 2
    state.breakers["ai"].failed()  # one failure opens it
    scraped = samples(metrics)
    connection = {labels[0][1]: v for (name, labels), v in scraped.items() if name == "whatsapp_bot_connection_state"}
    assert connection == {state.value: float(state is ConnectionState.CONNECTED) for state in ConnectionState}
    assert scraped[("whatsapp_bot_queue_depth", (("state", "waiting"),))] == 4
    assert scraped[("whatsapp_bot_queue_depth", (("state", "running"),))] == 2
    assert scraped[("whatsapp_bot_breaker_state", (("breaker", "ai"),))] == 2
    assert scraped[("whatsapp_bot_breaker_state", (("breaker", "send"),))] == 0
    assert scraped[("whatsapp_bot_database_up", ())] == 0
    assert scraped[("whatsapp_bot_browser_processes", ())] == 0


def test_watching_again_replaces_the_parts(live: tuple[LiveState, Parts, FakeQueue]) -> None:
    state, _, _ = live
    metrics = Metrics(process=False)
    metrics.watch(state)
    metrics.watch(LiveState(lambda: ConnectionState.OFFLINE, lambda: True, FakeQueue(), {}, state.profile_dir))
    assert value(metrics, "whatsapp_bot_connection_state", state="offline") == 1


@pytest.fixture
def fake_browser(tmp_path: Path) -> Iterator[Path]:
    """A process that looks like Chromium on a profile (the flag on its command line), for the memory gauge."""
    profile = tmp_path / "profile"
    profile.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", f"--user-data-dir={profile.resolve()}"],
        stdin=subprocess.PIPE,  # it lives until killed (or until its stdin closes with the test)
    )
    try:
        yield profile
    finally:
        process.kill()
        process.wait(timeout=10)
        assert process.stdin is not None
        process.stdin.close()


def test_browser_memory_is_the_resident_memory_of_its_processes(
    live: tuple[LiveState, Parts, FakeQueue], fake_browser: Path
) -> None:
    state, _, queue = live
    metrics = Metrics(process=False)
    metrics.watch(LiveState(state.connection, state.database_up, queue, state.breakers, fake_browser))
    assert value(metrics, "whatsapp_bot_browser_processes") == 1
    # A Python interpreter holds a few megabytes at least.
    assert value(metrics, "whatsapp_bot_browser_resident_memory_bytes") > 1_000_000


def test_resident_bytes_of_a_process() -> None:
    assert resident_bytes(os.getpid()) > 1_000_000
    assert resident_bytes(2**22 + 1) == 0  # above the kernel's largest pid: no such process


async def test_the_pipeline_counts_each_turn_by_how_it_ended(db: Database) -> None:
    metrics = Metrics(process=False)
    chat, responder = RecordingChat(), EchoResponder()
    work = ConversationWorker(
        db,
        responder,
        Outbox(db, chat, metrics=metrics),
        chat,
        context=ContextSource(db, rules=ContextRules(history_limit=10)),
        default_persona="default",
        max_age=timedelta(hours=12),
        metrics=metrics,
    )

    async def turn(contact_id: str, *, age: timedelta = timedelta(0), kind: str = "chat") -> None:
        await db.contacts.seen(contact_id, phone=contact_id.partition("@")[0], push_name=None)
        wa_id = f"W-{contact_id}"
        await db.messages.add_inbound(
            wa_id=wa_id,
            contact_id=contact_id,
            text="hello" if kind == "chat" else "",
            kind=kind,
            wa_time=utc_now() - age,
        )
        await work(contact_id)

    await turn("ana@c.us")
    await turn("ben@c.us", age=timedelta(hours=13))
    await turn("caro@c.us", kind="ptt")
    chat.fail_sending = True
    await turn("dan@c.us")
    chat.fail_sending, responder.fallback = False, True
    await turn("eve@c.us")

    counted = {outcome: value(metrics, "whatsapp_bot_replies_total", outcome=outcome) for outcome in ReplyOutcome}
    assert counted == {"model": 1, "fallback": 1, "polite": 1, "escalated": 0, "skipped": 0, "stale": 1, "failed": 1}
    assert value(metrics, "whatsapp_bot_ai_latency_seconds_count") == 3  # ana, dan and eve's turns asked the model
    assert value(metrics, "whatsapp_bot_send_latency_seconds_count") == 3  # ana, caro and eve got a reply
