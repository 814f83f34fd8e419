"""The simulated account: what flows between contacts, the bot's pages and the /phone pages.

Pure state: every operation returns the pushes it causes (who gets which JSON message) and the caller sends them
in that order, so ordering is decided here, in one place, and the rules are testable without a server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.simulator.ids import STATUS_BROADCAST, contact_wid, is_group, new_message_id, normalise_chat_id, user_of
from bot.simulator.inbound import Incoming
from bot.simulator.pages import STATES, Page, PageTable, Push, Rejected, to_page
from bot.simulator.store import ACK_READ, ACK_RECEIVED, ACK_SENT, ChatStore, Message


class SimState:
    """Link state and pages (PageTable), chats (ChatStore) and the messages held until a page can take them."""

    def __init__(self, operator_number: str, clock: Callable[[], float] = time.time) -> None:
        self.own_wid = contact_wid(operator_number)
        self.pages = PageTable()
        self.store = ChatStore()
        self._clock = clock
        self._pending: list[Message] = []

    def status(self) -> dict[str, Any]:
        return {**self.pages.describe(), "pending": len(self._pending)}

    def _status_push(self) -> Push:
        return Push("phones", "", {"type": "status", "status": self.status()})

    def open_page(self, token: str | None) -> tuple[Page, list[Push]]:
        """A page said hello: welcome it (main-ready if its token is known), then deliver what was held."""
        page, conflicts = self.pages.open(token)
        welcome = {
            "type": "welcome",
            "page": page.id,
            "stage": page.stage,
            "token": page.token,
            "tokenRejected": bool(token) and page.token is None,
            "mode": self.pages.mode_of(page),
            "online": self.pages.online,
            "authCode": page.auth_code.to_wire() if page.auth_code else None,
            "me": self.own_wid,
            "chats": self.store.chats(),
            "history": self.store.history(self.own_wid) if page.stage == "main_ready" else {},
        }
        return page, [to_page(page, welcome), *conflicts, *self._flush(), self._status_push()]

    def close_page(self, page_id: str) -> list[Push]:
        return [self._status_push()] if self.pages.close(page_id) else []

    def rotate_qr(self, page_id: str) -> list[Push]:
        return self.pages.rotate_qr(page_id)

    def link(self, ref: str | None = None) -> list[Push]:
        """POST /api/link: QR pages become authenticated, then main-ready; raises NoQrPage."""
        pushes: list[Push] = []
        for page in self.pages.link(ref):
            history = self.store.history(self.own_wid)
            pushes.append(to_page(page, {"type": "authenticated", "token": page.token}))
            ready = {
                "type": "mainReady",
                "mode": self.pages.mode_of(page),
                "online": self.pages.online,
                "history": history,
                "chats": self.store.chats(),
            }
            pushes.append(to_page(page, ready))
        return [*pushes, *self._flush(), self._status_push()]

    def logout(self) -> list[Push]:
        return [*self.pages.logout(), self._status_push()]

    def set_state(self, state: str) -> list[Push]:
        """POST /api/state; raises ValueError for unknown states. Back to CONNECTED delivers what was held."""
        return [*self.pages.set_state(state), *self._flush(), self._status_push()]

    def take_over(self, page_id: str) -> list[Push]:
        return [*self.pages.take_over(page_id), *self._flush(), self._status_push()]

    def post(self, incoming: Incoming) -> tuple[str, list[Push]]:
        """A message reaches the account; it is held until a main-ready page is connected and the stream is up."""
        from_me = incoming.sender is None
        message = Message(
            msg_id=incoming.msg_id or new_message_id(),
            chat=incoming.chat,
            sender=incoming.sender or self.own_wid,
            from_me=from_me,
            body=incoming.text,
            t=self._clock(),
            notify_name=incoming.name or "",
        )
        one_to_one = _phone_chat(message) is not None
        self.store.add(message, name=incoming.name if one_to_one and not from_me else None)
        self._pending.append(message)
        return message.key, [*self._phone_message(message), *self._flush()]

    def _flush(self) -> list[Push]:
        """Deliver held messages, in order, to every active page (nothing while offline or with no page)."""
        pages = self.pages.active()
        if self.pages.state != "CONNECTED" or not pages or not self._pending:
            return []
        pushes: list[Push] = []
        for message in self._pending:
            pushes.extend(self._deliver(message, pages))
            if not message.from_me and self.store.raise_ack(message.key, ACK_RECEIVED):
                pushes.extend(self._phone_ack(message))
        self._pending.clear()
        return pushes

    def _deliver(self, message: Message, pages: list[Page]) -> list[Push]:
        message.delivered = True
        chat = self.store.chat(message.chat).summary()
        wire = message.to_wire(self.own_wid)
        return [to_page(p, {"type": "message", "msg": wire, "chat": chat}) for p in pages]

    def send_text(
        self, page_id: str, chat_id: Any, text: Any, message_id: Any = None
    ) -> tuple[dict[str, Any], list[Push]]:
        """WPP.chat.sendTextMessage; a repeated messageId returns the first send instead of sending twice."""
        self.pages.require_active(page_id)
        if self.pages.state != "CONNECTED":
            raise Rejected(f"cannot send: the stream is {STATES[self.pages.state]}, not MAIN")
        chat = _chat_id(chat_id)
        if chat == STATUS_BROADCAST:
            raise Rejected("sending status posts is not supported by the simulator")
        if not isinstance(text, str) or not text:
            raise Rejected("content must be a non-empty string")
        message = Message(
            msg_id=_short_id(message_id) or new_message_id(),
            chat=chat,
            sender=self.own_wid,
            from_me=True,
            body=text,
            t=self._clock(),
            ack=ACK_SENT,
            by_bot=True,
        )
        if (existing := self.store.find(message.key)) is not None:
            return self._send_result(existing), []
        self.store.add(message)
        return self._send_result(message), [*self._deliver(message, self.pages.active()), *self._phone_message(message)]

    def _send_result(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.key,
            "ack": message.ack,
            "from": self.own_wid,
            "to": message.chat,
            "sendMsgResult": {"messageSendResult": "OK"},
        }

    def confirm_delivery(self, key: str) -> list[Push]:
        """The contact's phone got the bot's message: ack 2 (RECEIVED)."""
        return self._ack_change(key, ACK_RECEIVED)

    def phone_seen(self, number: str, keys: list[Any]) -> list[Push]:
        """The /phone page of `number` showed these messages: the operator's ones among them become READ."""
        pushes: list[Push] = []
        chat = contact_wid(number)
        for key in keys:
            message = self.store.find(key) if isinstance(key, str) else None
            if message is not None and message.chat == chat and message.from_me:
                pushes.extend(self._ack_change(key, ACK_READ))
        return pushes

    def _ack_change(self, key: str, ack: int) -> list[Push]:
        message = self.store.raise_ack(key, ack)
        if message is None:
            return []
        payload = {"type": "ack", "ack": ack, "chat": message.chat, "ids": [message.to_wire(self.own_wid)["id"]]}
        return [to_page(p, payload) for p in self.pages.active()]

    def mark_read(self, page_id: str, chat_id: Any) -> tuple[dict[str, Any], list[Push]]:
        """WPP.chat.markIsRead: returns the unread count it cleared; the contact's ticks turn blue."""
        self.pages.require_active(page_id)
        chat = _chat_id(chat_id)
        previous, newly_read = self.store.mark_read(chat)
        summary = self.store.chat(chat).summary()
        pushes = [to_page(p, {"type": "chat", "chat": summary}) for p in self.pages.active()]
        for message in newly_read:
            pushes.extend(self._phone_ack(message))
        return {"wid": chat, "unreadCount": previous}, pushes

    def composing(self, page_id: str, chat_id: Any, duration_ms: Any = None, *, paused: bool = False) -> list[Push]:
        """WPP.chat.markIsComposing / markIsPaused: the contact's phone shows or hides 'typing...'."""
        self.pages.require_active(page_id)
        chat = _chat_id(chat_id)
        if paused:
            payload: dict[str, Any] = {"type": "paused"}
        else:
            self.store.chat(chat).composing_events += 1
            valid = isinstance(duration_ms, int | float) and not isinstance(duration_ms, bool) and duration_ms > 0
            payload = {"type": "typing", "duration_ms": duration_ms if valid else None}
        return [] if is_group(chat) or chat == STATUS_BROADCAST else [Push("phone", user_of(chat), payload)]

    def phone_welcome(self, number: str) -> dict[str, Any]:
        chat = self.store.get_chat(contact_wid(number))
        return {
            "type": "welcome",
            "number": number,
            "name": chat.name if chat else "",
            "history": self.store.phone_history(contact_wid(number)),
            "status": self.status(),
        }

    def _phone_message(self, message: Message) -> list[Push]:
        number = _phone_chat(message)
        return [Push("phone", number, {"type": "message", "msg": message.to_phone()})] if number else []

    def _phone_ack(self, message: Message) -> list[Push]:
        number = _phone_chat(message)
        return [Push("phone", number, {"type": "ack", "id": message.key, "ack": message.ack})] if number else []


def _phone_chat(message: Message) -> str | None:
    """The contact number whose /phone shows this message; None for groups and status posts."""
    if is_group(message.chat) or message.chat == STATUS_BROADCAST:
        return None
    return user_of(message.chat)


def _chat_id(raw: Any) -> str:
    if isinstance(raw, dict):
        raw = raw.get("_serialized")
    chat = normalise_chat_id(raw)
    if chat is None:
        raise Rejected(f"invalid chat id {raw!r} (expected e.g. '15551234567@c.us')")
    return chat


def _short_id(raw: Any) -> str | None:
    """options.messageId as wa-js takes it: a bare id or a serialized MsgKey (fromMe_remote_id)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, dict):
        raw = raw.get("id")
    if not isinstance(raw, str):
        raise Rejected("options.messageId must be a string")
    short = raw.split("_")[2] if raw.count("_") >= 2 else raw
    if not short.isascii() or not short.isalnum() or len(short) > 64:
        raise Rejected(f"invalid options.messageId {raw!r}")
    return short
