"""The account's chats and messages as WhatsApp's server keeps them: history, unread counts, acks, the sent log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.simulator.ids import STATUS_BROADCAST, is_group, serialize_key, user_of
from bot.simulator.media import Media

ACK_SENT = 1
ACK_RECEIVED = 2
ACK_READ = 3

# What a page loads per chat when it opens or links (the real site also loads a recent window only).
HISTORY_PER_CHAT = 1000
# A media message's body is a base64 JPEG thumbnail on the real site, never text; a tiny one stands in for it.
THUMBNAIL = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAx"
THUMBNAIL_TYPES = frozenset({"image", "video", "sticker", "document", "location"})


@dataclass
class Message:
    """One message in a chat, from the operator's account point of view: a text, or media with its caption."""

    msg_id: str
    chat: str
    sender: str  # wid of whoever wrote it (the operator's own wid when from_me)
    from_me: bool
    body: str
    t: float
    notify_name: str = ""
    ack: int = ACK_SENT
    by_bot: bool = False
    delivered: bool = False  # synced to a bot page (as an event, in a silent sync or in its history)
    seq: int = 0  # order of arrival in the account, from 1
    kind: str = "chat"  # MsgModel.type
    mentions: tuple[str, ...] = ()  # wids, as MsgModel.mentionedJidList
    media: Media | None = None  # the file behind a media message (WPP.chat.downloadMedia), kept with it

    @property
    def participant(self) -> str | None:
        """Groups and status posts name the writer inside the key; 1:1 chats do not."""
        return self.sender if is_group(self.chat) or self.chat == STATUS_BROADCAST else None

    @property
    def key(self) -> str:
        return serialize_key(self.from_me, self.chat, self.msg_id, self.participant)

    def to_wire(self, own_wid: str, *, new: bool = True) -> dict[str, Any]:
        """A plain MsgModel (wa-js field names, Wids as strings); the page turns Wids into objects.

        `new` is MsgModel.isNewMsg: true for a message that arrives live, false for history and silent syncs.
        """
        group = is_group(self.chat)
        status = self.chat == STATUS_BROADCAST
        return {
            "id": {
                "fromMe": self.from_me,
                "remote": self.chat,
                "id": self.msg_id,
                "participant": self.participant,
                "_serialized": self.key,
            },
            **self._content(),
            "t": int(self.t),
            "notifyName": self.notify_name,
            "from": own_wid if self.from_me else self.chat,
            "to": self.chat if self.from_me else own_wid,
            "author": self.participant,
            "self": "out" if self.from_me else "in",
            "isNewMsg": new,
            "isGroupMsg": group,
            "isStatusV3": status,
            "broadcast": status,
            "ack": self.ack,
            "mentionedJidList": list(self.mentions),
        }

    def _content(self) -> dict[str, Any]:
        """body and type as MsgModel has them: a media message's text is its caption, its body a thumbnail."""
        if self.kind == "chat":
            return {"body": self.body, "type": "chat"}
        content: dict[str, Any] = {"type": self.kind, "body": THUMBNAIL if self.kind in THUMBNAIL_TYPES else ""}
        if self.body:
            content["caption"] = self.body
        if self.kind == "location":
            content |= {"lat": 38.7223, "lng": -9.1393}
        if self.media is not None:
            # The file's description, never its bytes: the page downloads those when asked (downloadMedia).
            described = {"mimetype": self.media.mimetype, "size": len(self.media.data), "filehash": self.media.filehash}
            content |= described | {"mediaData": {"type": self.kind, **described}}
        return content

    @property
    def shown_text(self) -> str:
        """What a person sees: the text, or the kind of media and its caption."""
        if self.kind == "chat":
            return self.body
        return f"[{self.kind}] {self.body}" if self.body else f"[{self.kind}]"

    def to_phone(self) -> dict[str, Any]:
        """How the contact's phone sees it: `mine` is true for what the contact wrote."""
        return {
            "id": self.key,
            "mine": not self.from_me,
            "text": self.shown_text,
            "t": self.t,
            "ack": self.ack,
            "by_bot": self.by_bot,
        }


@dataclass
class Chat:
    """A conversation in the operator's chat list."""

    id: str
    name: str
    unread: int = 0
    composing_events: int = 0
    t: int = 0  # time of the last message, as ChatModel.t
    last_seq: int = 0  # orders chats whose last messages share a second
    messages: list[Message] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "unread": self.unread, "composing_events": self.composing_events}

    def to_page(self) -> dict[str, Any]:
        """What a page's ChatModel is built from (wa-js field names)."""
        return {
            "id": self.id,
            "name": self.name,
            "unreadCount": self.unread,
            "t": self.t,
            "isGroup": is_group(self.id),
            "order": self.last_seq,
        }


class ChatStore:
    """Chats by id, messages by serialized key and in order of arrival, and the bot's sent log in order."""

    def __init__(self) -> None:
        self._chats: dict[str, Chat] = {}
        self._by_key: dict[str, Message] = {}
        self._log: list[Message] = []
        self._sent: list[Message] = []

    def chat(self, chat_id: str, name: str | None = None) -> Chat:
        """The chat, created on first use; a given name replaces the old one (contacts rename themselves)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = Chat(id=chat_id, name=name or _default_name(chat_id))
        elif name:
            chat.name = name
        return chat

    def get_chat(self, chat_id: str) -> Chat | None:
        return self._chats.get(chat_id)

    def add(self, message: Message, *, name: str | None = None) -> Chat:
        """Store a message; contacts' messages (not the operator's own) raise the unread count."""
        chat = self.chat(message.chat, name)
        chat.messages.append(message)
        chat.t = max(chat.t, int(message.t))
        self._by_key[message.key] = message
        self._log.append(message)
        message.seq = chat.last_seq = len(self._log)
        if not message.from_me:
            chat.unread += 1
        if message.by_bot:
            self._sent.append(message)
        return chat

    def find(self, key: str) -> Message | None:
        return self._by_key.get(key)

    @property
    def last_seq(self) -> int:
        return len(self._log)

    def since(self, seq: int, upto: int | None = None) -> list[Message]:
        """Messages that arrived after `seq` (up to `upto`), in order."""
        return self._log[seq:upto]

    def raise_ack(self, key: str, ack: int) -> Message | None:
        """Move a message's ack forward; returns it only when it changed (acks never go back)."""
        message = self._by_key.get(key)
        if message is None or message.ack >= ack:
            return None
        message.ack = ack
        return message

    def mark_read(self, chat_id: str) -> tuple[int, list[Message]]:
        """Zero the unread count; returns the previous count and the contact messages that became read."""
        chat = self.chat(chat_id)
        previous, chat.unread = chat.unread, 0
        newly_read = [m for m in chat.messages if not m.from_me and m.delivered and m.ack < ACK_READ]
        for message in newly_read:
            message.ack = ACK_READ
        return previous, newly_read

    def chats(self) -> list[dict[str, Any]]:
        """The chat list (status posts are not a chat)."""
        return [c.summary() for c in self._chats.values() if c.id != STATUS_BROADCAST]

    def page_chats(self) -> list[dict[str, Any]]:
        """The chat list as a page's ChatStore holds it."""
        return [c.to_page() for c in self._chats.values() if c.id != STATUS_BROADCAST]

    def sent_log(self, to: str | None = None) -> list[dict[str, Any]]:
        """What the bot sent, in order; `to` matches the number (user part) or the whole chat id."""
        return [
            {
                "id": m.key,
                "to": user_of(m.chat),
                "chat": m.chat,
                "text": m.body,
                "time": m.t,
                "ack": m.ack,
            }
            for m in self._sent
            if to is None or to in (m.chat, user_of(m.chat))
        ]

    def history(self, own_wid: str, upto: int) -> dict[str, list[dict[str, Any]]]:
        """Recent messages per chat up to sequence number `upto`: what a page loads when it opens or links."""
        return {
            chat.id: [m.to_wire(own_wid, new=False) for m in chat.messages if m.seq <= upto][-HISTORY_PER_CHAT:]
            for chat in self._chats.values()
        }

    def phone_history(self, chat_id: str) -> list[dict[str, Any]]:
        chat = self._chats.get(chat_id)
        return [m.to_phone() for m in chat.messages] if chat else []


def _default_name(chat_id: str) -> str:
    if chat_id == STATUS_BROADCAST:
        return "Status"
    if is_group(chat_id):
        return f"Group {user_of(chat_id)}"
    return "+" + user_of(chat_id)
