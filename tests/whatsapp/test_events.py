"""Which page messages become IncomingMessage: only new texts from contacts in personal chats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.whatsapp.events import PageMessage, to_incoming

CONTACT_TEXT = {
    "id": "false_15551234567@c.us_3EB0C767D26A8C1B1E5B",
    "chatId": "15551234567@c.us",
    "body": "hello",
    "type": "chat",
    "t": 1_700_000_000,
    "notifyName": "Ana",
}


def test_contact_text_becomes_incoming_message() -> None:
    message = to_incoming(PageMessage.model_validate(CONTACT_TEXT))
    assert message is not None
    assert message.wa_id == CONTACT_TEXT["id"]
    assert message.chat_id == "15551234567@c.us"
    assert message.phone == "15551234567"
    assert message.push_name == "Ana"
    assert message.text == "hello"
    assert message.sent_at == datetime.fromtimestamp(1_700_000_000, UTC)


@pytest.mark.parametrize(
    "change",
    [
        {"fromMe": True},  # our own message (the bot's reply, or the operator typing on the phone)
        {"chatId": "120363025246125486-1617@g.us", "isGroupMsg": True, "author": "15551234567@c.us"},
        {"chatId": "120363025246125486@g.us"},  # group id even without the flag
        {"chatId": "status@broadcast", "isStatusV3": True},
        {"broadcast": True},
        {"type": "e2e_notification", "body": ""},  # WhatsApp's own note in the chat
        {"type": "revoked"},
        {"isNewMsg": False},  # history loaded at start-up, not a new message
        {"chatId": "123456@newsletter"},
    ],
)
def test_other_messages_are_ignored(change: dict[str, object]) -> None:
    assert to_incoming(PageMessage.model_validate(CONTACT_TEXT | change)) is None


def test_media_comes_through_with_its_caption_never_its_thumbnail() -> None:
    image = CONTACT_TEXT | {"type": "image", "body": "/9j/4AAQSkZJRgABAQ", "caption": "is this the right part?"}
    message = to_incoming(PageMessage.model_validate(image))
    assert message is not None and (message.kind, message.text) == ("image", "is this the right part?")
    voice = to_incoming(PageMessage.model_validate(CONTACT_TEXT | {"type": "ptt", "body": None}))
    assert voice is not None and (voice.kind, voice.text) == ("ptt", "")
