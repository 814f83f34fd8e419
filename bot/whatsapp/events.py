"""What the page sends about messages and login codes, and what the WhatsApp client hands to the rest of the bot."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


def new_message_id() -> str:
    """An id in WhatsApp Web's own format (3EB0 + 16 hex digits), chosen by the bot before sending."""
    return "3EB0" + secrets.token_hex(8).upper()


class IncomingMessage(BaseModel):
    """A message in a chat the bot may answer: a text, or media with its caption.

    Most are a contact writing to the operator in a one-to-one chat. Two other kinds come through for the
    pipeline's rules: group messages from others (`is_group`, `author`, `mentions_me`) and the account's own
    messages in one-to-one chats (`from_me`): the bot's own sends echoed back, and the operator typing on the
    phone, which is how a human takeover is noticed. The account's own "message yourself" chat (`to_self`) is
    where the operator sends the bot commands; it is never answered.
    """

    model_config = ConfigDict(frozen=True)

    wa_id: str = Field(description="WhatsApp's serialized message id, unique")
    chat_id: str = Field(description="the conversation: the contact's chat id (15551234567@c.us) or the group's")
    phone: str = Field(description="the contact's number; in a group, the author's")
    push_name: str | None = Field(None, description="the writer's WhatsApp name; None for own messages")
    text: str = Field(description="the text, or a media message's caption (may be empty)")
    kind: str = Field("chat", description="WhatsApp's message type: chat (a text), image, ptt, sticker...")
    sent_at: datetime
    is_group: bool = Field(False, description="written in a group; chat_id is then the group's id")
    author: str | None = Field(None, description="in a group, the writer's id (15551234567@c.us)")
    mentions_me: bool = Field(False, description="the account's own number is among the message's mentions")
    from_me: bool = Field(
        False, description="written by this account: a reply the bot sent, or the operator typing on the phone"
    )
    to_self: bool = Field(
        False, description='in the account\'s own "message yourself" chat: operator commands, alerts, notes to self'
    )


class DownloadedMedia(BaseModel):
    """The file of a media message, as WhatsApp Web gave it (WPP.chat.downloadMedia)."""

    model_config = ConfigDict(frozen=True)

    mime_type: str = Field(description="the file's type as WhatsApp gives it: image/jpeg, audio/ogg; codecs=opus...")
    data: bytes = Field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


class MessageAck(BaseModel):
    """WhatsApp's receipt for messages the bot sent: 2 delivered to the contact's phone, 3 read, 4 played."""

    model_config = ConfigDict(frozen=True)

    ids: list[str]
    ack: int


class LoginCode(BaseModel):
    """The content of the QR code the operator scans to link the bot."""

    model_config = ConfigDict(frozen=True)

    ref: str
    full_code: str


class MessageHandler(Protocol):
    async def __call__(self, message: IncomingMessage) -> None: ...


class AckHandler(Protocol):
    async def __call__(self, ack: MessageAck) -> None: ...


class LoginCodeHandler(Protocol):
    async def __call__(self, code: LoginCode | None) -> None: ...


class PageMessage(BaseModel):
    """A message as the bridge script serialises wa-js's MsgModel (see bridge.js)."""

    id: str
    fromMe: bool = False
    chatId: str | None = None
    author: str | None = None
    body: str | None = None
    caption: str | None = None
    type: str | None = None
    t: float | None = None
    notifyName: str | None = None
    isGroupMsg: bool = False
    isStatusV3: bool = False
    broadcast: bool = False
    isNewMsg: bool = True
    mentionsMe: bool = False
    toSelf: bool = False


# Servers of one-to-one chats: phone-number ids and WhatsApp's newer linked ids.
PERSONAL_CHAT_SERVERS = ("c.us", "lid")
GROUP_SERVER = "g.us"
# What a person sends. Everything else in a chat (encryption notices, calls, deleted or not yet decrypted
# messages, system notes) is WhatsApp talking, not the contact.
CONTENT_TYPES = frozenset(
    {"chat", "image", "video", "audio", "ptt", "document", "sticker", "location", "vcard", "multi_vcard"}
    | {"poll_creation"}
)


def to_incoming(raw: PageMessage, *, from_history: bool = False) -> IncomingMessage | None:
    """What a person wrote in a one-to-one chat or a group; None for everything the bot never looks at.

    Kept: contacts' messages in one-to-one chats; group messages from others (with their author and whether
    they mention the account); the account's own messages in one-to-one chats. Dropped: status posts,
    broadcast lists, newsletters, system notes, own messages in groups, and group messages that name no author.
    Events must be new messages; messages read back from a chat (`from_history`, the unread ones) need not be.
    Media comes through with its caption as text: the pipeline decides what to do with it.
    """
    if raw.isStatusV3 or raw.broadcast or not (raw.isNewMsg or from_history):
        return None
    if raw.type not in CONTENT_TYPES or not raw.chatId:
        return None
    user, _, server = raw.chatId.partition("@")
    if not user:
        return None
    author: str | None = None
    if raw.isGroupMsg or server == GROUP_SERVER:
        # An own message in a group hands no contact over to the operator, so nothing needs it.
        if server != GROUP_SERVER or raw.fromMe:
            return None
        author_user, _, author_server = (raw.author or "").partition("@")
        if not author_user or author_server not in PERSONAL_CHAT_SERVERS:
            return None
        author, phone = raw.author, author_user
    elif server in PERSONAL_CHAT_SERVERS:
        phone = user
    else:
        return None
    # A media message's body is its thumbnail (base64), never text.
    text = _well_formed((raw.body if raw.type == "chat" else raw.caption) or "")
    sent_at = datetime.fromtimestamp(raw.t, UTC) if raw.t else datetime.now(UTC)
    return IncomingMessage(
        wa_id=raw.id,
        chat_id=raw.chatId,
        phone=phone,
        # On an own message this is the operator's name, which must not become the contact's.
        push_name=None if raw.fromMe or raw.notifyName is None else _well_formed(raw.notifyName),
        text=text,
        kind=raw.type,
        sent_at=sent_at,
        is_group=author is not None,
        author=author,
        mentions_me=raw.mentionsMe and not raw.fromMe,
        from_me=raw.fromMe,
        to_self=raw.toSelf and author is None,
    )


def _well_formed(text: str) -> str:
    """Lone UTF-16 surrogates (a JavaScript string cut mid-emoji) become U+FFFD, pairs their character.

    Playwright hands such strings over as they are, and they cannot be encoded as UTF-8: the database driver
    would refuse the message on every attempt.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
