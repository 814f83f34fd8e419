"""Who gets answered, and how: one pure decision per message, from the message, its contact and the settings.

No I/O and no clock of its own, so every rule is a unit test. The pipeline asks `decide` before it calls the
model and acts on the Decision: answer, skip (stored with the reason, left unread for the operator), or send a
fixed polite reply (media the bot cannot read). `takeover_until` says how long to leave a contact alone after
the operator wrote to them from the phone; telling those messages from the bot's own sends (by their id) is the
pipeline's part.

By message type: texts and images (the model sees the image, caption or not) are answered; a voice note, video,
document or contact card without a caption gets the polite reply (the persona's, else MEDIA_REPLY), a location
LOCATION_REPLY, both left unread instead with MEDIA_POLICY=skip; stickers are never answered. Reactions never get
here: wa-js does not report them as messages.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from bot.settings import Settings
from bot.storage.models import Contact, Message

TAKEOVER_REASON = "the operator wrote from the phone"
# Text with at least this share of junk characters (controls, U+FFFD, private use) among the visible ones is a
# file or a broken encoding, not something a person wrote.
BINARY_SHARE = 0.3
# Invisible characters beyond whitespace and the Cf (format) category: variation selectors and the blank
# filler letters used to send an empty-looking message.
_INVISIBLE = frozenset("\u115f\u1160\u2800\u3164\uffa0") | frozenset(chr(c) for c in range(0xFE00, 0xFE10))
# Media the model is shown (the pipeline attaches the file to the prompt), with or without a caption.
SEEN_KINDS = frozenset({"image"})
# Never answered: a sticker is a reaction, not a question, and a reply to each one would be noise.
IGNORED_KINDS = frozenset({"sticker"})
LOCATION_KIND = "location"


class Action(StrEnum):
    ANSWER = "answer"
    SKIP = "skip"
    POLITE = "polite"


class Decision(BaseModel):
    """What to do with one message. `reason` says why it is not answered normally; `reply` is the fixed text
    to send for POLITE."""

    model_config = ConfigDict(frozen=True)

    action: Action
    reason: str | None = None
    reply: str | None = None

    @classmethod
    def answer(cls) -> Self:
        return cls(action=Action.ANSWER)

    @classmethod
    def skip(cls, reason: str) -> Self:
        return cls(action=Action.SKIP, reason=reason)

    @classmethod
    def polite(cls, reason: str, reply: str) -> Self:
        return cls(action=Action.POLITE, reason=reason, reply=reply)


class MessageFacts(BaseModel):
    """What the rules need to know about a message; `stored` reads them from a stored inbound message."""

    model_config = ConfigDict(frozen=True)

    phone: str = Field(description="the writer's number (in a group, the author's)")
    kind: str = Field("chat", description="WhatsApp's message type: chat, image, ptt, sticker...")
    text: str = Field("", description="the text, or a media message's caption")
    is_group: bool = False
    mentions_me: bool = False
    from_me: bool = False

    @classmethod
    def stored(cls, message: Message) -> Self:
        """The facts of an inbound message as the inbox stored it."""
        return cls(
            phone=(message.author or message.contact_id).partition("@")[0],
            kind=message.kind,
            text=message.text,
            is_group=message.is_group,
            mentions_me=message.mentions_me,
        )


class AnswerRules(BaseModel):
    """The settings of the "Who is answered" section, as the rules use them."""

    model_config = ConfigDict(frozen=True)

    answer_groups: bool = False
    answer_only: frozenset[str] = frozenset()
    takeover_pause_s: float = 1800.0
    media_policy: Literal["polite", "skip"] = "polite"
    media_reply: str = "I can only read text messages here; I'll look at this soon."
    location_reply: str = "Thanks for sharing your location!"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            answer_groups=settings.answer_groups,
            answer_only=frozenset(settings.answer_only),
            takeover_pause_s=settings.takeover_pause_s,
            media_policy=settings.media_policy,
            media_reply=settings.media_reply,
            location_reply=settings.location_reply,
        )


def decide(
    message: MessageFacts,
    contact: Contact | None,
    rules: AnswerRules,
    now: datetime,
    *,
    media_reply: str | None = None,
) -> Decision:
    """Answer, skip or reply politely. `contact` is the stored contact of the conversation (None: not stored
    yet, so no flags); `now` is an aware datetime; `media_reply` is the persona's own polite answer to media
    (PersonaInstructions.media_reply), used instead of MEDIA_REPLY when given.

    Who first (own message, blocked, auto-reply off, paused, not allowed, group rules), then what (images,
    stickers, media without a caption, locations, empty or binary-looking text), so the reason names the rule
    the operator would change.
    """
    if message.from_me:
        return Decision.skip("own message")
    if contact is not None:
        if contact.blocked:
            return Decision.skip("blocked contact")
        if not contact.auto_reply:
            return Decision.skip("auto-reply is off for this contact")
        if contact.paused_at(now):
            assert contact.paused_until is not None
            why = f": {contact.pause_reason}" if contact.pause_reason else ""
            return Decision.skip(f"paused until {contact.paused_until.isoformat(timespec='seconds')}{why}")
    if rules.answer_only and not _allowed(message, contact, rules.answer_only):
        return Decision.skip("not in ANSWER_ONLY")
    if message.is_group:
        if not rules.answer_groups:
            return Decision.skip("group message (ANSWER_GROUPS is off)")
        if not message.mentions_me:
            return Decision.skip("group message that does not mention this number")
    if message.kind in SEEN_KINDS:
        return Decision.answer()
    if message.kind in IGNORED_KINDS:
        return Decision.skip(f"{message.kind} (never answered)")
    blank = is_blank(message.text)
    if message.kind != "chat" and blank:
        return _unreadable(message.kind, rules, media_reply)
    if blank:
        return Decision.skip("empty text")
    if looks_binary(message.text):
        return Decision.skip("binary-looking text")
    return Decision.answer()


def _unreadable(kind: str, rules: AnswerRules, media_reply: str | None) -> Decision:
    """Media the model cannot see, with no caption to answer: a polite reply, or left for the operator."""
    reason = "shared location" if kind == LOCATION_KIND else f"{kind} without a caption"
    if rules.media_policy == "skip":
        return Decision.skip(reason)
    if kind == LOCATION_KIND:
        return Decision.polite(reason, rules.location_reply)
    persona_reply = media_reply if media_reply is not None and not is_blank(media_reply) else None
    return Decision.polite(reason, persona_reply or rules.media_reply)


def takeover_until(rules: AnswerRules, now: datetime) -> datetime | None:
    """Until when to leave a contact alone after the operator wrote to them from the phone; None: never pause.

    Only for own messages the bot did not send itself, in one-to-one chats; pause with TAKEOVER_REASON.
    """
    if rules.takeover_pause_s <= 0:
        return None
    return now + timedelta(seconds=rules.takeover_pause_s)


def is_blank(text: str) -> bool:
    """Nothing a reader would see: empty, whitespace, zero-width and direction marks, blank filler letters."""
    return all(_invisible(char) for char in text)


def looks_binary(text: str) -> bool:
    """Mostly control, replacement or private-use characters: a file or a broken encoding, not words.

    Emoji, right-to-left and any other script are text; characters this Python's Unicode tables do not know yet
    (new emoji) count as text too.
    """
    visible = [char for char in text if not _invisible(char)]
    if not visible:
        return False
    junk = sum(1 for char in visible if char == "\ufffd" or unicodedata.category(char) in ("Cc", "Cs", "Co"))
    return junk >= BINARY_SHARE * len(visible)


def _invisible(char: str) -> bool:
    return char.isspace() or char in _INVISIBLE or unicodedata.category(char) == "Cf"


def _allowed(message: MessageFacts, contact: Contact | None, numbers: frozenset[str]) -> bool:
    # The writer's number; a contact known by another id (a linked id, LID) may have its number stored.
    return message.phone in numbers or (contact is not None and not message.is_group and contact.phone in numbers)
