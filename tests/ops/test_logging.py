"""Logs: text on a terminal, JSON lines under journald, a private rotated file, numbers and texts masked by
default, and every line of a message's journey tagged with its id."""

from __future__ import annotations

import gzip
import io
import json
import stat
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from pydantic import BaseModel, ValidationError

from bot.ops.logging import invalid_shape, mask, private, resolve_format, setup_logging, setup_logging_from
from bot.pipeline import ConversationWorker, Inbox, KeyedWorkQueue, Outbox
from bot.pipeline.context import ContextRules, ContextSource
from bot.settings import Settings
from bot.storage import Database
from bot.storage.health import StorageHealth
from bot.whatsapp import IncomingMessage

from ..pipeline.conftest import EchoResponder, RecordingChat
from ..waiting import wait_until

ANA = "15551234567"
ANA_CHAT = f"{ANA}@c.us"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging changes the global logger; the other tests get loguru's default back."""
    yield
    logger.remove()
    logger.configure(patcher=lambda record: None)
    logger.add(sys.stderr)


def capture(log_format: str = "json", *, show_private: bool = False, level: str = "DEBUG") -> io.StringIO:
    stream = io.StringIO()
    setup_logging(level, log_format=log_format, show_private=show_private, stream=stream, environ={})  # type: ignore[arg-type]
    return stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_parse_and_carry_the_journey_tags() -> None:
    stream = capture("json")
    with logger.contextualize(msg_id="m-1", turn_id="t-1"):
        logger.info("message {} answered", "m-1")
    logger.warning("outside any journey")
    first, second = json_lines(stream)
    assert first["message"] == "message m-1 answered" and first["level"] == "INFO"
    assert (first["msg_id"], first["turn_id"]) == ("m-1", "t-1")
    assert first["logger"] == __name__ and first["function"] and first["line"] > 0
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["level"] == "WARNING" and "msg_id" not in second


def test_an_extra_named_like_a_field_does_not_overwrite_it() -> None:
    stream = capture("json")
    logger.bind(level="mine", message="also mine").info("the real message")
    [line] = json_lines(stream)
    assert (line["level"], line["message"]) == ("INFO", "the real message")
    assert (line["extra_level"], line["extra_message"]) == ("mine", "also mine")


def test_text_lines_are_readable_and_show_the_message_id() -> None:
    stream = capture("text")
    with logger.contextualize(msg_id="m-1", turn_id="t-1", contact=ANA_CHAT):
        logger.info("answered")
    logger.info("plain")
    tagged, plain = stream.getvalue().splitlines()
    assert tagged.endswith("INFO    tests.ops.test_logging: answered [msg_id=m-1 turn_id=t-1]")
    assert plain.endswith(": plain") and "\x1b[" not in plain  # no colours when not on a terminal


@pytest.mark.parametrize(
    ("written", "logged"),
    [
        (f"from {ANA_CHAT} stored", "from ***4567@c.us stored"),
        ("call +15551234567 now", "call +***4567 now"),
        ("number 15551234567.", "number ***4567."),
        ("group 120363012345678901@g.us", "group ***8901@g.us"),
        ("old group 15551234567-1609459200@g.us", "old group ***9200@g.us"),
        ("hidden 123456789012345@lid", "hidden ***2345@lid"),
        ("jid 15551234567@s.whatsapp.net", "jid ***4567@s.whatsapp.net"),
        (f"wa id false_{ANA_CHAT}_3EB0ABCDEF", "wa id false_***4567@c.us_3EB0ABCDEF"),
        ("senders +15551234567, +15551230002", "senders +***4567, +***0002"),
    ],
)
def test_numbers_and_chat_ids_are_masked_to_their_last_digits(written: str, logged: str) -> None:
    assert mask(written) == logged
    stream = capture("json")
    logger.info(written)
    [line] = json_lines(stream)
    assert line["message"] == logged


@pytest.mark.parametrize(
    "kept",
    [
        "message 0f3b1c2d4e5f60718293a4b5c6d7e8f9 stored",  # a stored message's id (uuid4 hex)
        "message 1234567890abcdef1234567890abcdef stored",  # one that starts with digits
        "reply 3EB01234567890123456 sent",  # an id the bot chose for a reply
        "took 1.2345678 s",  # a measurement
        "round 3 of 10, 4 message(s), 123456 bytes",  # short numbers
    ],
)
def test_ids_and_short_numbers_are_left_alone(kept: str) -> None:
    assert mask(kept) == kept


def test_extras_are_masked_and_text_is_replaced_by_its_length() -> None:
    stream = capture("json")
    with logger.contextualize(contact=ANA_CHAT, wa_id=f"false_{ANA_CHAT}_3EB0AB"):
        logger.bind(text="my card number is 4111111111111111", to=["+15551234567"], count=15551234567).info("hi")
    [line] = json_lines(stream)
    assert line["contact"] == "***4567@c.us" and line["wa_id"] == "false_***4567@c.us_3EB0AB"
    assert line["text"] == "<34 chars>" and line["to"] == ["+***4567"]
    assert line["count"] == 15551234567  # numbers that are not text are counts, not phone numbers


def test_text_logged_through_private_is_replaced_by_its_length() -> None:
    stream = capture("text")
    logger.info('said "{}"', private("meet me at the station"))
    assert stream.getvalue().rstrip().endswith('said "<22 chars>"')
    # Before (or without) setup_logging it is masked too: a test's or a tool's log does not leak either.
    assert f"{private('hello')}" == "<5 chars>"


def test_an_exception_is_logged_with_its_message_masked() -> None:
    for log_format in ("json", "text"):
        stream = capture(log_format)
        try:
            raise RuntimeError(f"cannot send to {ANA_CHAT}")
        except RuntimeError:
            logger.exception("sending failed")
        output = stream.getvalue()
        assert "RuntimeError: cannot send to ***4567@c.us" in output and "Traceback" in output
        assert ANA not in output
        if log_format == "json":
            [line] = json_lines(stream)
            assert "RuntimeError" in line["exception"]


def test_log_show_private_shows_numbers_and_text() -> None:
    stream = capture("json", show_private=True)
    with logger.contextualize(contact=ANA_CHAT):
        logger.bind(text="hello there").info("from {}: {}", ANA_CHAT, private("hello there"))
    [line] = json_lines(stream)
    assert line["message"] == f"from {ANA_CHAT}: hello there"
    assert (line["contact"], line["text"]) == (ANA_CHAT, "hello there")


def test_masking_is_back_when_logging_is_set_up_again_without_show_private() -> None:
    capture("json", show_private=True)
    stream = capture("json")
    logger.info("from {}: {}", ANA_CHAT, private("hello"))
    assert json_lines(stream)[0]["message"] == "from ***4567@c.us: <5 chars>"


def test_auto_picks_json_under_journald_and_text_elsewhere() -> None:
    assert resolve_format("auto", {"JOURNAL_STREAM": "8:12345"}) == "json"
    assert resolve_format("auto", {}) == "text"
    assert resolve_format("text", {"JOURNAL_STREAM": "8:12345"}) == "text"
    assert resolve_format("json", {}) == "json"

    stream = io.StringIO()
    setup_logging("INFO", stream=stream, environ={"JOURNAL_STREAM": "8:12345"})
    logger.info("under systemd")
    assert json.loads(stream.getvalue())["message"] == "under systemd"


def test_lines_written_to_the_journal_itself_carry_its_priority(tmp_path: Path) -> None:
    """journald reads a leading <N> as the line's priority (sd-daemon(3)); it is only written when stderr is the
    journal's stream, which JOURNAL_STREAM names by device and inode."""
    with open(tmp_path / "journal", "w+", encoding="utf-8") as journal:
        status = Path(journal.name).stat()
        setup_logging("INFO", stream=journal, environ={"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"})
        logger.warning("look")
        logger.info("fine")
        logger.complete()
        journal.seek(0)
        warning, info = journal.read().splitlines()
    assert warning.startswith("<4>{") and json.loads(warning[3:])["message"] == "look"
    assert info.startswith("<6>{")


def test_file_log_is_private_rotated_compressed_and_pruned(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "bot.log"
    setup_logging(
        "INFO", log_format="json", file=path, rotation="300 B", retention="2", stream=io.StringIO(), environ={}
    )
    logger.info("first line from {}", ANA_CHAT)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8"))["message"] == "first line from ***4567@c.us"
    for number in range(20):
        logger.info("line {} of a long day, long enough to fill the file soon", number)
    rotated = sorted(path.parent.glob("bot.*.log.gz"))
    assert 1 <= len(rotated) <= 2, rotated  # rotated at 300 B, compressed, only the newest 2 kept
    for old in rotated:
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
        assert all(json.loads(line)["message"] for line in gzip.decompress(old.read_bytes()).splitlines())
    assert not list(path.parent.glob("bot.*.log"))  # no uncompressed leftovers


def test_an_older_log_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "bot.log"
    path.write_text("from before\n", encoding="utf-8")
    path.chmod(0o644)
    setup_logging("INFO", log_format="text", file=path, stream=io.StringIO(), environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_rotation_loguru_cannot_read_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, log_file=tmp_path / "bot.log", log_rotation="every blue moon")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="LOG_ROTATION"):
        setup_logging_from(settings)


def test_settings_reach_the_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_SHOW_PRIVATE", "true")
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "bot.log"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.log_rotation, settings.log_retention) == ("50 MB", "14 days")
    setup_logging_from(settings)
    logger.info("from {}", ANA_CHAT)
    assert json.loads((tmp_path / "bot.log").read_text(encoding="utf-8"))["message"] == f"from {ANA_CHAT}"


class _Shape(BaseModel):
    id: str
    ack: int


def test_a_payload_of_the_wrong_shape_is_described_without_its_values() -> None:
    with pytest.raises(ValidationError) as caught:
        _Shape.model_validate({"id": ["secret words", ANA_CHAT], "ack": "not a number"})
    described = invalid_shape(caught.value)
    assert described.startswith("2 problem(s): id: ") and "ack: " in described
    assert "secret" not in described and ANA not in described


async def test_a_message_journey_is_tagged_and_its_number_and_text_stay_out_of_the_log(db: Database) -> None:
    """The pipeline as the daemon runs it (inbox, queue, worker, outbox), logging at INFO by default."""
    stream = capture("json", level="INFO")
    chat, responder = RecordingChat(), EchoResponder()
    worker = ConversationWorker(
        db,
        responder,
        Outbox(db, chat),
        chat,
        context=ContextSource(db, rules=ContextRules(history_limit=10)),
        default_persona="default",
        max_age=timedelta(hours=12),
        health=StorageHealth(db),
    )
    queue: KeyedWorkQueue[str] = KeyedWorkQueue(worker, max_concurrent=2)
    inbox = Inbox(db, queue, StorageHealth(db))
    words = "my secret address is 12 Rose Lane"
    wa_id = f"false_{ANA_CHAT}_3EB0C0FFEE"
    stored = await inbox.receive(
        IncomingMessage(
            wa_id=wa_id, chat_id=ANA_CHAT, phone=ANA, push_name="Ana", text=words, sent_at=datetime.now(UTC)
        )
    )
    assert stored is not None
    await wait_until(lambda: len(chat.read) == 1)  # read comes last
    assert await queue.join(timeout_s=5)

    output = stream.getvalue()
    assert ANA not in output and "Rose Lane" not in output
    journey = [line for line in json_lines(stream) if line.get("msg_id") == stored.id]
    said = [line["message"] for line in journey]
    assert any("stored" in message for message in said), said
    assert any("answered" in message for message in said), said
    assert all(line["contact"] == "***4567@c.us" for line in journey)
    turn_ids = {line.get("turn_id") for line in journey if "answered" in line["message"]}
    assert turn_ids == {(await db.messages.get(stored.id)).turn}  # type: ignore[union-attr]
