"""The prompt carries the persona, what is known of the contact, and only this contact's messages."""

from __future__ import annotations

import pytest

from bot.ai import Turn, build_prompt
from bot.storage import Contact, Direction, Message, MessageStatus, Persona

PERSONA = Persona(id="default", instructions="Be kind.")
ANA = Contact(id="ana@c.us", phone="15551234567", push_name="Ana P", name="Ana", relationship="sister", notes="vegan")


def message(text: str, *, direction: Direction = Direction.INBOUND, status: MessageStatus | None = None,
            contact_id: str = "ana@c.us") -> Message:
    default = MessageStatus.RECEIVED if direction is Direction.INBOUND else MessageStatus.SENT
    return Message(contact_id=contact_id, direction=direction, status=status or default, text=text)


def test_system_instruction_has_persona_and_contact() -> None:
    prompt = build_prompt(PERSONA, ANA, [], message("hi"))
    assert prompt.system_instruction.startswith("Be kind.")
    for fact in ("Ana", "+15551234567", "Ana P", "sister", "vegan"):
        assert fact in prompt.system_instruction
    assert prompt.turns == (Turn("user", "hi"),)


def test_unknown_contact_is_named_by_phone() -> None:
    stranger = Contact(id="1@c.us", phone="1")
    prompt = build_prompt(PERSONA, stranger, [], message("hi", contact_id="1@c.us"))
    assert "chatting on WhatsApp with 1 (phone +1)" in prompt.system_instruction
    assert "Who they are" not in prompt.system_instruction


def test_history_becomes_alternating_turns_without_unsent_replies() -> None:
    history = [
        message("one"),
        message("two"),
        message("reply", direction=Direction.OUTBOUND),
        message("never delivered", direction=Direction.OUTBOUND, status=MessageStatus.FAILED),
    ]
    prompt = build_prompt(PERSONA, ANA, history, message("three"))
    assert prompt.turns == (Turn("user", "one\ntwo"), Turn("model", "reply"), Turn("user", "three"))


def test_another_contacts_message_is_refused() -> None:
    with pytest.raises(ValueError, match="another contact"):
        build_prompt(PERSONA, ANA, [message("ben's words", contact_id="ben@c.us")], message("hi"))
