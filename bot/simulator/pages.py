"""Which fake WhatsApp Web tabs are open, which of them are linked, and what stream each one shows.

Pure state: operations return the pushes they cause. Waiting (QR rotation, SYNCING held for a while) is a
"timer" push: the hub calls on_timer(page id, payload) after payload["delay_s"], and stale timers do nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.simulator.ids import AuthCode, new_link_token, normalise_link_code
from bot.simulator.qr import QrScreen
from bot.simulator.stream import STATES, MainReady, StreamState, check_state

Target = Literal["page", "phone", "phones", "timer"]
Stage = Literal["qr", "syncing", "main_ready"]


@dataclass(frozen=True)
class Push:
    """One JSON message for a page (key = page id), a contact's phone (key = number), every phone, or a timer."""

    target: Target
    key: str
    payload: dict[str, Any]


class NoQrPage(Exception):
    """POST /api/link (or /api/qr/...) with no page showing that QR code or pairing code (HTTP 409)."""


class Rejected(Exception):
    """A page call that WhatsApp would refuse; the page's promise rejects with this message."""


@dataclass
class Page:
    """One open tab of the fake web.whatsapp.com (a reload or a reconnect is a new Page)."""

    id: str
    stage: Stage
    ready: MainReady
    token: str | None = None
    qr: QrScreen | None = None
    conflicted: bool = False
    syncing: bool = False  # on its way to MAIN through SYNCING
    sync_info: str = "SYNCING"  # StreamInfo meanwhile: SYNCING after linking or loading, RESUMING after a drop
    sync_gen: int = 0
    reached_main: bool = False
    main_ready_sent: bool = False  # wa-js emits conn.main_ready once per page load
    synced_seq: int = 0  # the page holds every account message up to this sequence number
    stale_acks: dict[str, dict[str, Any]] = field(default_factory=dict)  # ack changes it could not be told

    @property
    def linked(self) -> bool:
        return self.token is not None

    @property
    def auth_code(self) -> AuthCode | None:
        return self.qr.auth_code if self.qr else None


def to_page(page: Page, payload: dict[str, Any]) -> Push:
    return Push("page", page.id, payload)


def _timer(page: Page, kind: str, gen: int, delay_s: float) -> Push:
    return Push("timer", page.id, {"type": kind, "gen": gen, "delay_s": delay_s})


class PageTable:
    """Open pages, valid link tokens, the account's stream state and the main-ready setting."""

    def __init__(self, *, qr_refresh_s: float = 20.0, rotations_before_idle: int = 6, sync_s: float = 0.0) -> None:
        self.state = "CONNECTED"
        self.main_ready = MainReady()
        self._qr_refresh_s = qr_refresh_s
        self._rotations_before_idle = rotations_before_idle
        self._sync_s = sync_s
        self._pages: dict[str, Page] = {}
        self._tokens: set[str] = set()
        self._numbers = itertools.count(1)

    @property
    def stream_state(self) -> StreamState:
        return STATES[self.state]

    @property
    def linked(self) -> bool:
        return bool(self._tokens)

    @property
    def online(self) -> bool:
        return self.stream_state.online

    @property
    def live(self) -> bool:
        return self.stream_state.live

    def get(self, page_id: str) -> Page | None:
        return self._pages.get(page_id)

    def all(self) -> list[Page]:
        return list(self._pages.values())

    def active(self) -> list[Page]:
        """Pages that act for the account: main-ready and not pushed out by another tab."""
        return [p for p in self._pages.values() if p.stage == "main_ready" and not p.conflicted]

    def reachable(self) -> list[Page]:
        """Linked pages WhatsApp is talking to now: they take messages (as events once main-ready)."""
        if not self.live:
            return []
        return [p for p in self._pages.values() if p.linked and not p.conflicted]

    def qr_pages(self) -> list[Page]:
        return [p for p in self._pages.values() if p.qr is not None]

    def mode_of(self, page: Page) -> str:
        """The StreamMode a page shows: its own conflict, then the account state, then QR, SYNCING or MAIN."""
        if page.conflicted:
            return "CONFLICT"
        if self.state != "CONNECTED":
            return self.stream_state.mode
        if page.qr is not None:
            return "QR"
        return "SYNCING" if page.syncing else "MAIN"

    def stream_of(self, page: Page) -> dict[str, Any]:
        """Mode, NetworkStatus.online, StreamInfo and Socket.state of a page."""
        mode = self.mode_of(page)
        stream = self.stream_state
        if page.conflicted:
            info, socket = "NORMAL", "CONFLICT"
        elif self.state != "CONNECTED":
            info, socket = stream.info, stream.socket
        elif page.qr is not None:
            info, socket = "NORMAL", "UNPAIRED_IDLE" if page.qr.idle else "UNPAIRED"
        else:
            info, socket = (page.sync_info if page.syncing else "NORMAL"), "CONNECTED"
        return {"mode": mode, "online": stream.online, "info": info, "socket": socket}

    def stream(self, page: Page) -> Push:
        return to_page(page, {"type": "stream", **self.stream_of(page)})

    def describe(self) -> dict[str, Any]:
        pages = list(self._pages.values())
        return {
            "linked": self.linked,
            "state": self.state,
            "pages": [
                {
                    "id": p.id,
                    "stage": p.stage,
                    "state": self.mode_of(p),
                    "info": self.stream_of(p)["info"],
                    "idle": bool(p.qr and p.qr.idle),
                    "main_ready_mode": p.ready.mode,
                    "main_ready": p.main_ready_sent,
                }
                for p in pages
            ],
            "qr_pages": len(self.qr_pages()),
            "ready_pages": len(self.active()),
        }

    def open(self, token: str | None) -> tuple[Page, list[Push]]:
        """A page said hello: a known token syncs its way to MAIN and pushes out its twin; else the QR screen."""
        page_id = f"page-{next(self._numbers)}"
        pushes: list[Push] = []
        if token and token in self._tokens:
            page = Page(id=page_id, stage="syncing", ready=self.main_ready, token=token)
            self.begin_sync(page, "SYNCING")
            pushes = self._conflict_twins(page)
        else:
            page = Page(id=page_id, stage="qr", ready=self.main_ready, qr=QrScreen.new())
        self._pages[page_id] = page
        return page, pushes

    def close(self, page_id: str) -> bool:
        return self._pages.pop(page_id, None) is not None

    def link(self, ref: str | None = None, code: str | None = None, own_number: str = "") -> list[Page]:
        """The operator scans the QR (or types the pairing code): those pages get their own link token."""
        pages = self.qr_pages()
        if code is not None:
            wanted = normalise_link_code(code)
            pages = [p for p in pages if p.qr and wanted and p.qr.link_code == wanted]
            if not pages:
                raise NoQrPage("no page generated that pairing code")
            phone = pages[0].qr.link_phone if pages[0].qr else None
            if phone != own_number:
                raise NoQrPage(f"that pairing code was asked for +{phone}, not for this account (+{own_number})")
        elif ref:
            pages = [p for p in pages if p.qr and p.qr.shows(ref)]
            if not pages:
                raise NoQrPage("no page is showing that QR code")
        else:
            pages = [p for p in pages if p.qr and not p.qr.idle]
            if not pages:
                idle = bool(self.qr_pages())
                raise NoQrPage("the QR code is idle (click to reload it)" if idle else "no page is showing a QR code")
        for page in pages:
            page.token = new_link_token()
            page.qr = None
            page.stage = "syncing"
            page.ready = self.main_ready
            self._tokens.add(page.token)
            self.begin_sync(page, "SYNCING")
        return pages

    def logout(self) -> list[Push]:
        """The phone unlinks the device: every token dies and linked pages are told to log out."""
        self._tokens.clear()
        linked = [p for p in self._pages.values() if p.linked]
        for page in linked:
            del self._pages[page.id]  # it reloads into a new page; this socket no longer speaks for the account
        return [to_page(p, {"type": "logout"}) for p in linked]

    def set_state(self, state: str) -> list[Push]:
        """POST /api/state: every page hears the new stream; back from offline, linked pages resync first."""
        if check_state(state) not in STATES:
            raise ValueError(f"{state} is not a state the account stays in")
        was_online = self.online
        self.state = state
        if not was_online and state == "CONNECTED":
            for page in self.reachable():
                if page.stage == "main_ready":
                    self.begin_sync(page, "RESUMING")
        return [self.stream(p) for p in self._pages.values()]

    def take_over(self, page_id: str) -> list[Push]:
        """'Use here' (Socket.takeover) on a page in CONFLICT: it becomes the active one, its twins go to CONFLICT.

        When the whole account was put in CONFLICT (POST /api/state), taking over also reconnects it.
        """
        page = self._pages.get(page_id)
        if page is None or not page.linked or not (page.conflicted or self.state == "CONFLICT"):
            raise Rejected("only a page in CONFLICT can take over")
        pushes = self._conflict_twins(page)
        page.conflicted = False
        if self.state == "CONFLICT":
            return [*pushes, *self.set_state("CONNECTED")]
        return [*pushes, self.stream(page)]

    def _conflict_twins(self, page: Page) -> list[Push]:
        twins = [p for p in self._pages.values() if p.token == page.token and p is not page and not p.conflicted]
        for twin in twins:
            twin.conflicted = True
        return [self.stream(t) for t in twins]

    def begin_sync(self, page: Page, info: str) -> None:
        page.syncing = True
        page.sync_info = info
        page.sync_gen += 1

    def advance(self, pages: list[Page]) -> list[Push]:
        """Move pages on: syncing ones towards MAIN (now or by a timer), QR ones to main_ready in before-auth."""
        pushes: list[Push] = []
        for page in pages:
            if page.qr is not None:
                if page.ready.mode == "before-auth" and not page.main_ready_sent and self.mode_of(page) == "QR":
                    page.main_ready_sent = True
                    pushes.append(to_page(page, {"type": "mainReady"}))
                continue
            if not page.syncing or page.conflicted or self.state != "CONNECTED" or page.ready.mode == "never":
                continue
            page.sync_gen += 1
            delay_s = self._sync_s + (0.0 if page.reached_main else page.ready.delay_s)
            if delay_s > 0:
                pushes.append(_timer(page, "syncDone", page.sync_gen, delay_s))
            else:
                pushes.extend(self._finish_sync(page))
        return pushes

    def _finish_sync(self, page: Page) -> list[Push]:
        if not page.syncing or page.conflicted or self.state != "CONNECTED" or page.ready.mode == "never":
            return []
        page.syncing = False
        page.stage = "main_ready"
        page.reached_main = True
        pushes = [self.stream(page)]
        if not page.main_ready_sent:
            page.main_ready_sent = True
            pushes.append(to_page(page, {"type": "mainReady"}))
        return pushes

    def qr_timer(self, page: Page) -> list[Push]:
        """The next automatic rotation of a QR page (none when rotation is off)."""
        if page.qr is None or page.qr.idle or self._qr_refresh_s <= 0:
            return []
        return [_timer(page, "qrTick", page.qr.gen, self._qr_refresh_s)]

    def on_timer(self, page_id: str, payload: dict[str, Any]) -> list[Push]:
        """A timer this table asked for is due; it does nothing if the page moved on in the meantime."""
        page = self._pages.get(page_id)
        if page is None:
            return []
        if payload.get("type") == "syncDone" and payload.get("gen") == page.sync_gen:
            return self._finish_sync(page)
        if payload.get("type") == "qrTick" and page.qr is not None and payload.get("gen") == page.qr.gen:
            return self._qr_tick(page, page.qr)
        return []

    def _qr_tick(self, page: Page, qr: QrScreen) -> list[Push]:
        if qr.idle:
            return []
        if 0 < self._rotations_before_idle <= qr.rotations:
            return self.qr_idle(page)
        qr.rotate(automatic=True)
        return [self._auth_code_push(page), *self.qr_timer(page)]

    def rotate_qr(self, page: Page) -> list[Push]:
        """A new ref for a page still showing a QR code (nothing for pages that moved on or went idle)."""
        if page.qr is None or page.qr.idle:
            return []
        page.qr.rotate(automatic=False)
        return [self._auth_code_push(page)]

    def qr_idle(self, page: Page) -> list[Push]:
        """The QR screen goes idle ('click to reload QR code'): the code disappears and rotation stops."""
        if page.qr is None or page.qr.idle:
            return []
        page.qr.go_idle()
        return [to_page(page, {"type": "qrIdle"}), self.stream(page)]

    def refresh_qr(self, page: Page) -> list[Push]:
        """WPP.conn.refreshQR: leave idle, a new code now, rotation and its count start over."""
        if page.qr is None:
            return []
        page.qr.refresh()
        return [self._auth_code_push(page), self.stream(page), *self.qr_timer(page)]

    def _auth_code_push(self, page: Page) -> Push:
        code = page.auth_code
        return to_page(page, {"type": "authCode", "authCode": code.to_wire() if code else None})

    def require_active(self, page_id: str) -> Page:
        """The calling page, if it may act for the account."""
        page = self._pages.get(page_id)
        if page is None or page.stage != "main_ready":
            raise Rejected("the page is not main-ready (scan the QR code first)")
        if page.conflicted:
            raise Rejected("WhatsApp is open in another window (CONFLICT)")
        return page

    def require_qr(self, page_id: str) -> tuple[Page, QrScreen]:
        """The calling page, if it is still on the QR screen."""
        page = self._pages.get(page_id)
        if page is None or page.qr is None:
            raise Rejected("the page is already authenticated")
        return page, page.qr
