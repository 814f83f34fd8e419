"""`contacts list|show|set|import|export|forget`: the logic against the test database, and the command handlers
with the daemon's database swapped for it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.errors import EXIT_SETTINGS
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Database
from bot.tools.common import ToolError
from bot.tools.contacts import (
    export_contacts,
    forget_contact,
    import_contacts,
    list_contacts,
    load_demo_contacts,
    set_contact,
    show_contact,
)

from .conftest import run_command as run

ANA = "15551234567@c.us"
BEN = "15557654321@c.us"
PERSONAS_DIR = PROJECT_ROOT / "config" / "personas"
DEMO_CONTACTS = PROJECT_ROOT / "config" / "demo" / "contacts.yaml"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        mongodb_uri="mongodb://127.0.0.1:9",  # never opened: the handlers get the test database
        personas_dir=PERSONAS_DIR,
    )


async def add_message(db: Database, contact_id: str, text: str, *, author: str | None = None) -> None:
    await db.messages.add_inbound(
        wa_id=f"wa-{contact_id}-{text}",
        contact_id=contact_id,
        text=text,
        wa_time=datetime.now(UTC),
        is_group=author is not None,
        author=author,
    )


async def test_list_shows_a_table_and_filters(db: Database) -> None:
    assert await list_contacts(db) == "No contacts."
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana P")
    await db.contacts.update(ANA, relationship="family", tags=["kids", "vip"])
    await db.contacts.update(BEN, name="Ben", relationship="client", persona="support", blocked=True)
    await db.contacts.pause(ANA, datetime.now(UTC) + timedelta(minutes=5), "operator wrote from the phone")
    lines = (await list_contacts(db)).splitlines()
    assert lines[0].split() == [
        "number",
        "name",
        "relationship",
        "persona",
        "tags",
        "reply",
        "messages",
        "last",
        "message",
    ]
    assert lines[1].split()[:7] == ["+15551234567", "Ana", "P", "family", "(default)", "kids,vip", "paused"]
    assert lines[2].split() == ["+15557654321", "Ben", "client", "support", "blocked", "0"]
    assert len((await list_contacts(db, tag="vip")).splitlines()) == 2
    assert "Ben" in await list_contacts(db, relationship="client")
    assert await list_contacts(db, relationship="friend") == "No contacts."


async def test_show_every_field_and_unknown_numbers(db: Database) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana P")
    await db.contacts.update(ANA, name="Ana", notes="sister\nlikes cats", instructions="in Spanish", priority=2)
    text = await show_contact(db, "+1 555 123 4567")
    for line in ("number:        +15551234567", "name:          Ana", "WhatsApp name: Ana P", "priority:      2"):
        assert line in text
    assert "auto-reply:    on" in text and "blocked:       no" in text and "messages:      1" in text
    assert "notes:         sister\n               likes cats" in text
    assert "instructions:  in Spanish" in text
    with pytest.raises(ToolError, match="no contact \\+15550000000"):
        await show_contact(db, "+15550000000")


async def test_set_changes_creates_and_checks_the_persona(db: Database) -> None:
    contact = await set_contact(db, "+15551234567", {"name": "Ana", "tags": ["a", "b"]}, personas_dir=PERSONAS_DIR)
    assert (contact.id, contact.name, contact.tags) == (ANA, "Ana", ["a", "b"])
    # A persona file the daemon has not stored yet counts.
    contact = await set_contact(db, ANA, {"persona": "support", "name": None}, personas_dir=PERSONAS_DIR)
    assert (contact.persona, contact.name, contact.tags) == ("support", None, ["a", "b"])
    with pytest.raises(ToolError, match="no persona 'pirate'"):
        await set_contact(db, ANA, {"persona": "pirate"}, personas_dir=PERSONAS_DIR)
    with pytest.raises(ToolError, match="nothing to change"):
        await set_contact(db, ANA, {})
    with pytest.raises(ToolError, match="phone number"):
        await set_contact(db, "12", {"name": "x"})


async def test_import_reports_every_bad_row_and_imports_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "number,name,relationship,persona,priority\n"
        "15551234567,Ana,family,,\n"
        "15557654321,Ben,client,pirate,\n"
        "15559876543,Caro,colleague,assistant,x\n",
        encoding="utf-8",
    )
    report = await import_contacts(db, path, personas_dir=PERSONAS_DIR)
    assert [error.split(": ")[0] for error in report.errors] == [f"{path}:3", f"{path}:4"]
    assert not report.imported and await db.contacts.list() == []
    partial = await import_contacts(db, path, partial=True, personas_dir=PERSONAS_DIR)
    assert (partial.imported, partial.created, partial.updated, len(partial.errors)) == (True, 1, 0, 2)
    assert [contact.name for contact in await db.contacts.list()] == ["Ana"]


async def test_export_round_trips_through_import(db: Database, tmp_path: Path) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await db.contacts.update(ANA, name="Ana", relationship="family", notes="sister\nkids", tags=["family"])
    await db.contacts.update(BEN, name="Ben", persona="support", priority=2, auto_reply=False)
    await db.contacts.seen("1203630001@g.us", phone="15559990000", push_name=None)  # a group: not exported
    for fmt in ("csv", "yaml"):
        path = tmp_path / f"contacts.{fmt}"
        path.write_text(await export_contacts(db, fmt), encoding="utf-8")  # type: ignore[arg-type]
        before = {contact.id: contact for contact in await db.contacts.list()}
        report = await import_contacts(db, path, personas_dir=PERSONAS_DIR)
        assert (report.errors, report.created, report.updated) == ([], 0, 2)
        after = {contact.id: contact for contact in await db.contacts.list()}
        for contact_id, contact in before.items():
            assert after[contact_id].model_dump(exclude={"updated_at"}) == contact.model_dump(exclude={"updated_at"})


async def test_forget_removes_messages_threads_and_the_contact(db: Database) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    for text in ("hi", "are you there?"):
        await add_message(db, ANA, text)
    await add_message(db, "1203630001@g.us", "in a group", author=ANA)
    await add_message(db, BEN, "Ben's message")
    now = datetime.now(UTC)
    await db.threads.current(ANA, now - timedelta(days=2), timedelta(minutes=30))
    await db.threads.current(ANA, now, timedelta(minutes=30))
    forgotten = await forget_contact(db, "+15551234567")
    assert forgotten == (True, 3, 2)
    assert await db.contacts.get(ANA) is None and await db.messages.for_contact(ANA) == []
    assert await db.threads.latest(ANA) is None
    assert [message.text for message in await db.messages.for_contact(BEN)] == ["Ben's message"]
    with pytest.raises(ToolError, match="nothing is stored"):
        await forget_contact(db, "+15551234567")


async def test_load_demo_contacts_adds_only_new_ones(db: Database) -> None:
    await db.contacts.update(ANA, name="Ana (edited)")
    assert await load_demo_contacts(db, DEMO_CONTACTS) == 2
    ana = await db.contacts.get(ANA)
    assert ana is not None and ana.name == "Ana (edited)" and ana.relationship is None
    ben = await db.contacts.get(BEN)
    assert ben is not None and (ben.name, ben.relationship, ben.persona) == ("Ben", "client", "support")
    assert await load_demo_contacts(db, DEMO_CONTACTS) == 0


async def test_handlers_set_show_and_list(
    use_db: Database, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await run(
        settings,
        "contacts", "set", "+15551234567", "--name", "Ana", "--relationship", "family", "--persona", "assistant",
        "--tags", "kids, vip", "--priority", "3", "--auto-reply", "off", "--blocked", "on", "--notes", "sister",
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "name:          Ana" in printed and "auto-reply:    off" in printed and "blocked:       yes" in printed
    contact = await use_db.contacts.get(ANA)
    assert contact is not None
    assert (contact.relationship, contact.persona, contact.tags, contact.priority) == (
        "family",
        "assistant",
        ["kids", "vip"],
        3,
    )
    await run(settings, "contacts", "set", ANA, "--relationship", "", "--notes", "")
    contact = await use_db.contacts.get(ANA)
    assert contact is not None and contact.relationship is None and contact.notes is None
    capsys.readouterr()
    await run(settings, "contacts", "show", "15551234567")
    assert "chat id:       15551234567@c.us" in capsys.readouterr().out
    await run(settings, "contacts", "list", "--tag", "vip")
    assert "+15551234567" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["contacts", "set", ANA, "--auto-reply", "maybe"])


async def test_handler_import_exits_2_on_errors_and_partial_imports(
    use_db: Database, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("- number: '+15551234567'\n  name: Ana\n- number: '123'\n  name: Bad\n", encoding="utf-8")
    with pytest.raises(ToolError, match="nothing imported") as caught:
        await run(settings, "contacts", "import", str(path))
    assert caught.value.exit_code == EXIT_SETTINGS == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:3: expected a phone number with country code, e.g. +15551234567, got '123'"
    ]
    assert await use_db.contacts.list() == []
    await run(settings, "contacts", "import", str(path), "--partial")
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{path}:3: ")
    assert "1 created, 0 updated, 1 row(s) skipped" in captured.out


async def test_handler_export_to_stdout_and_to_a_file(
    use_db: Database, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await use_db.contacts.update(ANA, name="Ana")
    await run(settings, "contacts", "export", "--format", "yaml")
    assert capsys.readouterr().out.startswith("- number: '+15551234567'\n  name: Ana\n")
    path = tmp_path / "out.csv"
    await run(settings, "contacts", "export", str(path))
    assert path.read_text(encoding="utf-8").splitlines()[1].startswith("+15551234567,Ana,")
    with pytest.raises(ToolError, match="--format"):
        await run(settings, "contacts", "export", str(tmp_path / "out.txt"))


class FakeStdin(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self._terminal = terminal

    def isatty(self) -> bool:
        return self._terminal


async def test_handler_forget_confirms_on_a_terminal_and_refuses_elsewhere(
    use_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await use_db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await add_message(use_db, ANA, "hi")
    monkeypatch.setattr("sys.stdin", FakeStdin(terminal=False))
    with pytest.raises(ToolError, match="--yes"):
        await run(settings, "contacts", "forget", "+15551234567")
    monkeypatch.setattr("sys.stdin", FakeStdin(terminal=True))
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(ToolError, match="not confirmed"):
        await run(settings, "contacts", "forget", "+15551234567")
    assert await use_db.contacts.get(ANA) is not None
    questions: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: questions.append(prompt) or "yes")
    await run(settings, "contacts", "forget", "+15551234567")
    assert "Ana (+15551234567)" in questions[0]
    assert "Forgot +15551234567: the contact, 1 message(s), 0 thread(s)" in capsys.readouterr().out
    assert await use_db.contacts.get(ANA) is None
    await use_db.contacts.seen(BEN, phone="15557654321", push_name=None)
    monkeypatch.setattr("sys.stdin", FakeStdin(terminal=False))
    await run(settings, "contacts", "forget", BEN, "--yes")
    assert await use_db.contacts.get(BEN) is None


async def test_a_thousand_row_import_with_three_bad_rows(db: Database, tmp_path: Path) -> None:
    lines = ["number,name,relationship,persona"]
    bad = {10: "15550000010,Ten,cousin,", 500: "not-a-number,Five hundred,,", 1000: "15550001000,Last,,pirate"}
    lines += [bad.get(row, f"1555{row:07d},Contact {row},client,support") for row in range(1, 1001)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await import_contacts(db, path, personas_dir=PERSONAS_DIR)
    assert [error.split(": ")[0] for error in report.errors] == [f"{path}:11", f"{path}:501", f"{path}:1001"]
    assert await db.contacts.list() == []
    partial = await import_contacts(db, path, partial=True, personas_dir=PERSONAS_DIR)
    assert (partial.created, len(partial.errors), len(await db.contacts.list())) == (997, 3, 997)
