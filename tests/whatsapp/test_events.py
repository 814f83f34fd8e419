"""Which page messages become IncomingMessage: contacts' messages, group messages from others, own messages in
personal chats; never statuses, broadcasts, newsletters or system notes."""

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
        {"chatId": "120363025246125486-1617@g.us", "isGroupMsg": True, "fromMe": True},  # our own, in a group
        {"chatId": "120363025246125486-1617@g.us", "isGroupMsg": True},  # a group message naming no author
        {"chatId": "120363025246125486@g.us", "author": "status@broadcast"},  # an author that is not a person
        {"chatId": "status@broadcast", "isStatusV3": True},
        {"chatId": "status@broadcast", "isStatusV3": True, "fromMe": True},  # the operator's own status
        {"broadcast": True},
        {"chatId": "15551234567@broadcast"},  # a broadcast list
        {"type": "e2e_notification", "body": ""},  # WhatsApp's own note in the chat
        {"type": "revoked"},
        {"type": None},
        {"isNewMsg": False},  # history loaded at start-up, not a new message
        {"chatId": "123456@newsletter"},
        {"chatId": "@c.us"},
        {"chatId": None},
    ],
)
def test_other_messages_are_ignored(change: dict[str, object]) -> None:
    assert to_incoming(PageMessage.model_validate(CONTACT_TEXT | change)) is None


def test_a_contact_message_has_the_safe_defaults() -> None:
    message = to_incoming(PageMessage.model_validate(CONTACT_TEXT))
    assert message is not None
    assert (message.is_group, message.author, message.mentions_me, message.from_me) == (False, None, False, False)


def test_a_group_message_from_someone_else_names_the_group_and_its_author() -> None:
    group = CONTACT_TEXT | {
        "id": "false_120363025246125486-1617@g.us_3EB0AA_15557654321@c.us",
        "chatId": "120363025246125486-1617@g.us",
        "isGroupMsg": True,
        "author": "15557654321@c.us",
        "notifyName": "Ben",
        "body": "@15550000000 can you help?",
        "mentionsMe": True,
    }
    message = to_incoming(PageMessage.model_validate(group))
    assert message is not None
    assert message.chat_id == "120363025246125486-1617@g.us"  # the conversation is the group
    assert (message.is_group, message.author, message.phone) == (True, "15557654321@c.us", "15557654321")
    assert (message.push_name, message.mentions_me, message.from_me) == ("Ben", True, False)
    unmentioned = to_incoming(PageMessage.model_validate(group | {"mentionsMe": False}))
    assert unmentioned is not None and unmentioned.mentions_me is False


def test_a_group_is_known_by_its_id_even_without_the_flag() -> None:
    group = CONTACT_TEXT | {"chatId": "120363025246125486@g.us", "author": "15557654321@lid"}
    message = to_incoming(PageMessage.model_validate(group))
    assert message is not None and message.is_group and message.phone == "15557654321"


def test_an_own_message_in_a_personal_chat_comes_through_for_takeover() -> None:
    own = CONTACT_TEXT | {
        "id": "true_15551234567@c.us_3EB0OWN",
        "fromMe": True,
        "body": "I'll take it from here",
        "notifyName": "The Operator",
        "mentionsMe": True,
    }
    message = to_incoming(PageMessage.model_validate(own))
    assert message is not None
    assert (message.from_me, message.chat_id, message.phone) == (True, "15551234567@c.us", "15551234567")
    # The operator's own WhatsApp name must never become the contact's.
    assert message.push_name is None
    assert message.mentions_me is False and message.is_group is False


def test_unread_history_may_hold_old_messages() -> None:
    old = PageMessage.model_validate(CONTACT_TEXT | {"isNewMsg": False})
    assert to_incoming(old, from_history=True) is not None


def test_media_comes_through_with_its_caption_never_its_thumbnail() -> None:
    image = CONTACT_TEXT | {"type": "image", "body": "/9j/4AAQSkZJRgABAQ", "caption": "is this the right part?"}
    message = to_incoming(PageMessage.model_validate(image))
    assert message is not None and (message.kind, message.text) == ("image", "is this the right part?")
    voice = to_incoming(PageMessage.model_validate(CONTACT_TEXT | {"type": "ptt", "body": None}))
    assert voice is not None and (voice.kind, voice.text) == ("ptt", "")


def test_text_cut_mid_emoji_becomes_encodable() -> None:
    broken = CONTACT_TEXT | {"body": "ok \ud83d", "notifyName": "Ana \ud83d\ude00"}
    message = to_incoming(PageMessage.model_validate(broken))
    assert message is not None
    assert (message.text, message.push_name) == ("ok \ufffd", "Ana \U0001f600")
    message.text.encode("utf-8")


def test_the_self_chat_is_flagged_for_operator_commands() -> None:
    command = CONTACT_TEXT | {
        "id": "true_15550000000@c.us_3EB0CMD",
        "chatId": "15550000000@c.us",
        "fromMe": True,
        "body": "/status",
        "toSelf": True,
    }
    message = to_incoming(PageMessage.model_validate(command))
    assert message is not None and (message.to_self, message.from_me, message.text) == (True, True, "/status")
    contact = to_incoming(PageMessage.model_validate(CONTACT_TEXT))
    assert contact is not None and contact.to_self is False
