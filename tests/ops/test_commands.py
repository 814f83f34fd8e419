"""The operator's commands: each answers with a confirmation or a clear error, never an exception, and changes
only what it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.ops.commands import HELP, PAUSE_REASON, OperatorCommands, PausedContact, StatusReport, parse_number
from bot.storage import Database, Persona

from ..storage_faults import FlakyProxy, Outage

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
ANA = "15551234567"
ANA_ID = f"{ANA}@c.us"


def quiet_status() -> StatusReport:
    return StatusReport(connection="connected", waiting=0, answering=0, ai_breaker="closed", send_breaker="closed")


def commands_for(db: Database, report: StatusReport | None = None) -> OperatorCommands:
    async def status() -> StatusReport:
        return report or quiet_status()

    return OperatorCommands(db, status, tz=UTC, clock=lambda: NOW)


@pytest.fixture
async def ana(db: Database) -> None:
    await db.contacts.seen(ANA_ID, phone=ANA, push_name="Ana")


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("+15551234567", ANA),
        ("15551234567", ANA),
        ("+1 555 123 4567", ANA),
        ("+1 (555) 123-4567", ANA),
        (" 1.555.123.4567 ", ANA),
        ("5551234", None),  # no country code: too short
        ("0555123456789", None),  # a national prefix, not a country code
        ("+1555123456789012", None),  # longer than E.164 allows
        ("ana", None),
        ("", None),
        ("１５５５１２３４５６７", None),  # full-width digits are not a number WhatsApp knows
    ],
)
def test_numbers_are_read_as_operators_type_them(typed: str, digits: str | None) -> None:
    assert parse_number(typed) == digits


@pytest.mark.parametrize("text", ["/help", "/HELP", "/frobnicate 1 2", "/", "/pause", "/note 15551234567"])
async def test_help_and_usage_answer_instead_of_failing(db: Database, text: str) -> None:
    answer = await commands_for(db).run(text)
    assert answer and not answer.startswith("/")
    if text.lower() == "/help":
        assert answer == HELP
    elif text.startswith("/frobnicate") or text == "/":
        assert answer.startswith("Unknown command") and HELP in answer
    else:
        assert answer.startswith("Usage:")


@pytest.mark.parametrize("args", ["15551234567 30", "+1 555 123 4567 30", "+15551234567\n30"])
async def test_pause_for_minutes(db: Database, ana: None, args: str) -> None:
    answer = await commands_for(db).run(f"/pause {args}")
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None
    assert contact.paused_until == NOW + timedelta(minutes=30) and contact.pause_reason == PAUSE_REASON
    assert contact.auto_reply  # a pause ends by itself
    assert answer == "Paused Ana (+15551234567) for 30 min: no answers until 10:00."


@pytest.mark.parametrize("args", ["15551234567", "+1 555 123 4567", "+1 555 123-4567"])
async def test_pause_without_minutes_lasts_until_resumed(db: Database, ana: None, args: str) -> None:
    commands = commands_for(db)
    answer = await commands.run(f"/pause {args}")
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.auto_reply is False and contact.paused_until is None
    assert "Auto-reply is off for Ana (+15551234567)" in answer and "/resume +15551234567" in answer

    answer = await commands.run("/resume +1 555 123 4567")
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.auto_reply is True and contact.paused_until is None
    assert answer == "Resumed Ana (+15551234567): the bot answers their next message."


async def test_resume_ends_a_timed_pause_too(db: Database, ana: None) -> None:
    await db.contacts.pause(ANA_ID, NOW + timedelta(hours=2), "the operator wrote from the phone")
    await commands_for(db).run("/resume 15551234567")
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.paused_until is None and contact.pause_reason is None


async def test_a_longer_pause_is_kept_and_said(db: Database, ana: None) -> None:
    await db.contacts.pause(ANA_ID, NOW + timedelta(days=1), "escalated")
    answer = await commands_for(db).run("/pause 15551234567 5")
    assert answer == "Ana (+15551234567) was already paused for longer: until Sat 15 Mar 09:30, kept."


async def test_a_number_that_never_wrote_can_be_paused_but_not_resumed(db: Database) -> None:
    commands = commands_for(db)
    assert await commands.run("/pause +15557654321 10") == (
        "Paused +15557654321 (who has not written yet) for 10 min: no answers until 09:40."
    )
    contact = await db.contacts.get("15557654321@c.us")
    assert contact is not None and contact.paused_until == NOW + timedelta(minutes=10)
    assert await commands.run("/resume 15550001111") == "No contact with the number +15550001111."


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("/pause ana 30", "'ana 30' is not a phone number"),
        ("/pause 15551234567 0", "Pause for 1 to"),
        ("/resume 555", "'555' is not a phone number"),
        ("/persona +1555 support", "'+1555' is not a phone number"),
    ],
)
async def test_bad_input_gets_a_clear_error(db: Database, ana: None, text: str, start: str) -> None:
    assert (await commands_for(db).run(text)).startswith(start)
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.paused_until is None and contact.auto_reply


async def test_persona_must_exist(db: Database, ana: None) -> None:
    await db.personas.save(Persona(id="support", name="Sam", role="support at Acme Bikes"))
    commands = commands_for(db)
    answer = await commands.run("/persona +15551234567 sales")
    assert answer == 'There is no persona "sales". Personas: support.'
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.persona is None

    answer = await commands.run("/persona +1 555 123 4567 support")
    assert answer == 'Ana (+15551234567) now gets the persona "support" (Sam).'
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.persona == "support"
    assert await commands.run("/persona 15550001111 support") == "No contact with the number +15550001111."


async def test_notes_are_appended(db: Database, ana: None) -> None:
    commands = commands_for(db)
    assert await commands.run("/note 15551234567 prefers mornings") == (
        "Noted for Ana (+15551234567): prefers mornings"
    )
    # Words after a number written with spaces may be digits too: the reading that names a contact wins.
    assert await commands.run("/note +1 555 123 4567 3 kids") == "Noted for Ana (+15551234567): 3 kids"
    contact = await db.contacts.get(ANA_ID)
    assert contact is not None and contact.notes == "prefers mornings\n3 kids"
    assert await commands.run("/note 15550001111 hello") == "No contact with the number +15550001111."


async def test_status_reports_every_part(db: Database) -> None:
    report = StatusReport(
        connection="connected",
        waiting=3,
        answering=2,
        ai_breaker="open",
        send_breaker="closed",
        received_today=12,
        replies_today=10,
        paused=[
            PausedContact(name="Ana", phone=ANA, until=NOW + timedelta(minutes=30), reason=PAUSE_REASON),
            PausedContact(name="15557654321", phone="15557654321", until=None),
        ],
    )
    answer = await commands_for(db, report).run("/status")
    assert answer.splitlines() == [
        "WhatsApp: connected",
        "Contacts waiting: 3, being answered: 2",
        "AI: open, sending: closed",
        "Messages today: 12 received, 10 replies",
        "Paused (2):",
        f"- Ana (+15551234567), until 10:00 ({PAUSE_REASON})",
        "- +15557654321, until /resume",
    ]
    quiet = await commands_for(db).run("/status")
    assert "Paused: nobody" in quiet and "Messages today: unknown" in quiet


def test_a_paused_contact_is_shown_with_the_end_of_its_pause_or_until_resumed() -> None:
    from bot.storage import Contact

    paused = Contact(id=ANA_ID, phone=ANA, push_name="Ana", paused_until=NOW + timedelta(minutes=5))
    assert PausedContact.of(paused, NOW).until == NOW + timedelta(minutes=5)
    off = paused.model_copy(update={"auto_reply": False})
    assert PausedContact.of(off, NOW).until is None


async def test_an_answer_never_reads_as_a_command(db: Database) -> None:
    # The contact chose this name; echoed into the self chat, the answer must not run as a command.
    await db.contacts.seen(ANA_ID, phone=ANA, push_name="/resume 15557654321")
    await db.contacts.pause(ANA_ID, NOW + timedelta(days=1), "escalated")
    answer = await commands_for(db).run("/pause 15551234567 5")
    assert answer.startswith("> /resume 15557654321 (+15551234567) was already paused")


async def test_a_database_outage_is_answered_not_raised(db: Database) -> None:
    outage = Outage()
    flaky = Database(FlakyProxy(db._client, outage), db._db.name, in_memory=True)
    outage.down = True
    answer = await commands_for(flaky).run("/pause 15551234567 30")
    assert answer == "The database is not answering, so nothing was changed. Try again in a moment."
    assert outage.refused >= 1
