"""The simulated account: what flows between contacts, the bot's pages and the /phone pages.

Pure state: every operation returns the pushes it causes (who gets which JSON message, and which timers to start)
and the caller sends them in that order, so ordering is decided here, in one place, and the rules are testable
without a server.

Delivery follows the real site: a message reaches the pages WhatsApp is talking to when it arrives (an event for
main-ready pages, a silent sync for a page still syncing); a page that could not take it (none open, offline,
pushed out by another tab) gets it silently later, in its history when it opens or in a sync push when the
stream comes back. Nothing is ever replayed as an event.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bot.simulator.ids import (
    STATUS_BROADCAST,
    contact_wid,
    is_group,
    new_message_id,
    normalise_chat_id,
    normalise_number,
    user_of,
)
from bot.simulator.inbound import Incoming
from bot.simulator.media import Media
from bot.simulator.pages import NoQrPage, Page, PageTable, Push, Rejected, to_page
from bot.simulator.store import ACK_READ, ACK_RECEIVED, ACK_SENT, ChatStore, Message
from bot.simulator.stream import UNPAIRED, MainReady, check_state


class SimState:
    """Link state and pages (PageTable), chats (ChatStore) and which messages no page has yet."""

    def __init__(
        self,
        operator_number: str,
        clock: Callable[[], float] = time.time,
        *,
        qr_refresh_s: float = 20.0,
        qr_rotations_before_idle: int = 6,
        sync_ms: float = 0.0,
    ) -> None:
        self.own_number = operator_number
        self.own_wid = contact_wid(operator_number)
        self.pages = PageTable(
            qr_refresh_s=qr_refresh_s, rotations_before_idle=qr_rotations_before_idle, sync_s=sync_ms / 1000
        )
        self.store = ChatStore()
        self._clock = clock
        self._unsynced: deque[Message] = deque()  # always the newest messages: a reachable page takes them all

    def status(self) -> dict[str, Any]:
        return {**self.pages.describe(), "pending": len(self._unsynced)}

    def _status_push(self) -> Push:
        return Push("phones", "", {"type": "status", "status": self.status()})

    def open_page(self, token: str | None) -> tuple[Page, list[Push]]:
        """A page said hello: a known token loads its history and syncs to MAIN; otherwise the QR screen."""
        page, conflicts = self.pages.open(token)
        history, acks = self._load(page) if page.linked else ({}, [])
        welcome = {
            "type": "welcome",
            "page": page.id,
            "stage": page.stage,
            "token": page.token,
            "tokenRejected": bool(token) and page.token is None,
            "stream": self.pages.stream_of(page),
            "authCode": page.auth_code.to_wire() if page.auth_code else None,
            "me": self.own_wid,
            "chats": self.store.page_chats() if page.linked else [],
            "history": history,
        }
        pushes = [to_page(page, welcome), *conflicts, *acks]
        pushes += [*self.pages.advance([page]), *self.pages.qr_timer(page), self._status_push()]
        return page, pushes

    def close_page(self, page_id: str) -> list[Push]:
        return [self._status_push()] if self.pages.close(page_id) else []

    def on_timer(self, page_id: str, payload: dict[str, Any]) -> list[Push]:
        """A timer that an earlier operation asked for is due (QR rotation, end of SYNCING)."""
        pushes = self.pages.on_timer(page_id, payload)
        return [*pushes, self._status_push()] if pushes else []

    def link(self, ref: str | None = None, code: str | None = None) -> list[Push]:
        """POST /api/link: QR pages become authenticated, load their history, then sync to MAIN and main-ready.

        Only the page showing `ref`, or the one that generated pairing `code`, when given. Raises NoQrPage.
        """
        pushes: list[Push] = []
        for page in self.pages.link(ref, code, self.own_number):
            history, acks = self._load(page)
            authenticated = {
                "type": "authenticated",
                "token": page.token,
                "history": history,
                "chats": self.store.page_chats(),
            }
            pushes += [to_page(page, authenticated), *acks, self.pages.stream(page), *self.pages.advance([page])]
        return [*pushes, self._status_push()]

    def _load(self, page: Page) -> tuple[dict[str, list[dict[str, Any]]], list[Push]]:
        """What a linked page loads as it opens or links, and the acks that causes.

        Everything when WhatsApp is reachable; else only what some page had already synced (the rest arrives
        when the stream comes back).
        """
        upto = self.store.last_seq if self.pages.live else self.store.last_seq - len(self._unsynced)
        page.synced_seq = upto
        return self.store.history(self.own_wid, upto), self._mark_synced(upto)

    def logout(self) -> list[Push]:
        return [*self.pages.logout(), self._status_push()]

    def set_state(self, state: str) -> list[Push]:
        """POST /api/state; raises ValueError for unknown states. UNPAIRED is a logout by the server.

        Whenever the stream comes back, the pages get what they missed (silently) before they hear of it, so
        that whoever reacts to SYNCING or MAIN finds it in the store. Back from offline, linked pages also pass
        through SYNCING before MAIN.
        """
        if check_state(state) == UNPAIRED:
            # The pages go back to the QR screen, with the stream up so that they can show one.
            pushes = [*self.pages.logout(), *self.pages.set_state("CONNECTED")]
        else:
            streams = self.pages.set_state(state)
            pushes = [*self._sync_all(), *streams]
        return [*pushes, *self.pages.advance(self.pages.all()), self._status_push()]

    def take_over(self, page_id: str) -> list[Push]:
        """Socket.takeover ('Use here') on a page in CONFLICT; it gets what it missed silently."""
        streams = self.pages.take_over(page_id)
        return [*self._sync_all(), *streams, *self.pages.advance(self.pages.all()), self._status_push()]

    def set_main_ready(self, setting: MainReady) -> None:
        """POST /api/main-ready: applies to pages that open or link from now on."""
        self.pages.main_ready = setting

    def reload_pages(self) -> list[Push]:
        """POST /api/page/reload: every page reloads, as WhatsApp Web does after an update."""
        return [to_page(p, {"type": "reload"}) for p in self.pages.all()]

    def rotate_qr(self, page_id: str) -> list[Push]:
        page = self.pages.get(page_id)
        return self.pages.rotate_qr(page) if page else []

    def rotate_all_qr(self) -> list[Push]:
        """POST /api/qr/rotate: every page showing a QR code gets a new one now. Raises NoQrPage."""
        pushes = [push for page in self.pages.qr_pages() for push in self.pages.rotate_qr(page)]
        if not pushes:
            raise NoQrPage("no page is showing a QR code")
        return [*pushes, self._status_push()]

    def idle_all_qr(self) -> list[Push]:
        """POST /api/qr/idle: every page showing a QR code goes idle. Raises NoQrPage."""
        pushes = [push for page in self.pages.qr_pages() for push in self.pages.qr_idle(page)]
        if not pushes:
            raise NoQrPage("no page is showing a QR code")
        return [*pushes, self._status_push()]

    def refresh_qr(self, page_id: str) -> tuple[None, list[Push]]:
        """WPP.conn.refreshQR from a page; it resolves with the next conn.auth_code_change, which follows."""
        page = self.pages.get(page_id)
        if page is None or page.qr is None:
            return None, []
        return None, [*self.pages.refresh_qr(page), self._status_push()]

    def link_code(self, page_id: str, phone: Any) -> str:
        """WPP.conn.genLinkDeviceCodeForPhoneNumber: an 8-character code that POST /api/link {"code"} accepts."""
        _, qr = self.pages.require_qr(page_id)
        number = normalise_number(phone) if isinstance(phone, str) else None
        if number is None:
            raise Rejected(f"invalid phone number {phone!r} (expected digits with the country code)")
        return qr.new_link_code(number)

    def post(self, incoming: Incoming) -> tuple[str, list[Push]]:
        """A message reaches the account: pages WhatsApp is talking to take it now, others later and silently."""
        from_me = incoming.sender is None
        message = Message(
            msg_id=incoming.msg_id or new_message_id(),
            chat=incoming.chat,
            sender=incoming.sender or self.own_wid,
            from_me=from_me,
            body=incoming.text,
            t=self._clock() - int(incoming.age_s),
            notify_name=incoming.name or "",
            kind=incoming.kind,
            mentions=self._mentions(incoming),
            media=incoming.media,
        )
        one_to_one = _phone_chat(message) is not None
        # Typing on the phone reads the chat there, and the read state syncs to every device.
        pushes = self._read(message.chat) if from_me and self.store.get_chat(message.chat) else []
        self.store.add(message, name=incoming.name if one_to_one and not from_me else None)
        pushes += [*self._phone_message(message), *self._distribute(message)]
        if not message.delivered:
            self._unsynced.append(message)
            pushes.append(self._status_push())
        return message.key, pushes

    def media(self, key: str) -> Media | None:
        """The file of the message with this serialized key; None for unknown messages and those without one."""
        message = self.store.find(key)
        return message.media if message is not None else None

    def _mentions(self, incoming: Incoming) -> tuple[str, ...]:
        """The mentioned wids; "mention_me" names the account's own number, whatever the operator number is."""
        if incoming.mention_me and self.own_wid not in incoming.mentions:
            return (*incoming.mentions, self.own_wid)
        return incoming.mentions

    def _distribute(self, message: Message) -> list[Push]:
        """A new message to the reachable pages: an event for main-ready ones, a silent sync for the others."""
        pushes: list[Push] = []
        pages = self.pages.reachable()
        for page in pages:
            if page.stage == "main_ready":
                pushes += self._sync(page, upto=message.seq - 1)
                chat = None if message.chat == STATUS_BROADCAST else self.store.chat(message.chat).to_page()
                pushes.append(to_page(page, {"type": "message", "msg": message.to_wire(self.own_wid), "chat": chat}))
                page.synced_seq = message.seq
            else:
                pushes += self._sync(page)
        if pages:
            message.delivered = True
            pushes += self._received(message)
        return pushes

    def _sync_all(self) -> list[Push]:
        return [push for page in self.pages.reachable() for push in self._sync(page)]

    def _sync(self, page: Page, upto: int | None = None) -> list[Push]:
        """Bring a page's store up to date without events: missed messages, chats (unread counts) and acks."""
        upto = self.store.last_seq if upto is None else upto
        missed = self.store.since(page.synced_seq, upto)
        if not missed and not page.stale_acks:
            return []
        payload = {
            "type": "sync",
            "messages": [m.to_wire(self.own_wid, new=False) for m in missed],
            "chats": self.store.page_chats(),
            "acks": list(page.stale_acks.values()),
        }
        page.synced_seq = max(page.synced_seq, upto)
        page.stale_acks.clear()
        return [to_page(page, payload), *self._mark_synced(upto)]

    def _mark_synced(self, upto: int) -> list[Push]:
        """Messages up to `upto` are now on a page: contacts see two ticks on theirs."""
        pushes: list[Push] = []
        while self._unsynced and self._unsynced[0].seq <= upto:
            message = self._unsynced.popleft()
            message.delivered = True
            pushes += self._received(message)
        return pushes

    def _received(self, message: Message) -> list[Push]:
        if message.from_me or not self.store.raise_ack(message.key, ACK_RECEIVED):
            return []
        return self._phone_ack(message)

    def send_text(
        self, page_id: str, chat_id: Any, text: Any, message_id: Any = None, *, mark_read: bool = True
    ) -> tuple[dict[str, Any], list[Push]]:
        """WPP.chat.sendTextMessage; a repeated messageId returns the first send instead of sending twice.

        Like wa-js (options.markIsRead defaults to true), sending marks the chat read first.
        """
        page = self.pages.require_active(page_id)
        mode = self.pages.mode_of(page)
        if mode != "MAIN":
            raise Rejected(f"cannot send: the stream is {mode}, not MAIN")
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
        pushes = self._read(chat) if mark_read and self.store.get_chat(chat) else []
        self.store.add(message)
        pushes += [*self._distribute(message), *self._phone_message(message)]
        return self._send_result(message), pushes

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
        """An event for the main-ready pages WhatsApp is talking to; the others update silently later."""
        message = self.store.raise_ack(key, ack)
        if message is None:
            return []
        msg_id = message.to_wire(self.own_wid)["id"]
        told = [p for p in self.pages.reachable() if p.stage == "main_ready"]
        for page in self.pages.all():
            if page.linked and page not in told:
                page.stale_acks[key] = {"id": msg_id, "chat": message.chat, "ack": ack}
        payload = {"type": "ack", "ack": ack, "chat": message.chat, "ids": [msg_id]}
        return [to_page(p, payload) for p in told]

    def mark_read(self, page_id: str, chat_id: Any) -> tuple[dict[str, Any], list[Push]]:
        """WPP.chat.markIsRead: returns the unread count it cleared; the contact's ticks turn blue."""
        self.pages.require_active(page_id)
        chat = _chat_id(chat_id)
        previous = self.store.chat(chat).unread
        return {"wid": chat, "unreadCount": previous}, self._read(chat)

    def _read(self, chat_id: str) -> list[Push]:
        """The operator read a chat (on a page or on the phone): unread 0 everywhere, blue ticks for the contact."""
        _, newly_read = self.store.mark_read(chat_id)
        summary = self.store.chat(chat_id).to_page()
        pushes = [to_page(p, {"type": "chat", "chat": summary}) for p in self.pages.reachable()]
        for message in newly_read:
            pushes.extend(self._phone_ack(message))
        return pushes

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
