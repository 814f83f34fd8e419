"""Which fake WhatsApp Web tabs are open, which of them are linked, and what stream mode each one shows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

from bot.simulator.ids import AuthCode, new_link_token

# Control-API state -> the StreamMode a linked page shows.
STATES = {
    "CONNECTED": "MAIN",
    "OFFLINE": "OFFLINE",
    "CONFLICT": "CONFLICT",
    "TOS_BLOCK": "TOS_BLOCK",
    "DEPRECATED_VERSION": "DEPRECATED_VERSION",
}

Target = Literal["page", "phone", "phones"]


@dataclass(frozen=True)
class Push:
    """One JSON message for a page (key = page id), a contact's phone (key = number) or every phone."""

    target: Target
    key: str
    payload: dict[str, Any]


class NoQrPage(Exception):
    """POST /api/link with no page on the QR screen (HTTP 409)."""


class Rejected(Exception):
    """A page call that WhatsApp would refuse; the page's promise rejects with this message."""


@dataclass
class Page:
    """One open tab of the fake web.whatsapp.com."""

    id: str
    stage: Literal["qr", "main_ready"]
    token: str | None = None
    auth_code: AuthCode | None = None
    conflicted: bool = False


def to_page(page: Page, payload: dict[str, Any]) -> Push:
    return Push("page", page.id, payload)


class PageTable:
    """Open pages, valid link tokens and the account's stream state."""

    def __init__(self) -> None:
        self.state = "CONNECTED"
        self._pages: dict[str, Page] = {}
        self._tokens: set[str] = set()
        self._numbers = itertools.count(1)

    @property
    def linked(self) -> bool:
        return bool(self._tokens)

    @property
    def online(self) -> bool:
        return self.state != "OFFLINE"

    def get(self, page_id: str) -> Page | None:
        return self._pages.get(page_id)

    def active(self) -> list[Page]:
        """Pages that receive messages: main-ready and not pushed out by another tab."""
        return [p for p in self._pages.values() if p.stage == "main_ready" and not p.conflicted]

    def mode_of(self, page: Page) -> str:
        """The StreamMode a page shows: its own conflict first, then the account state, then QR or MAIN."""
        if page.conflicted:
            return "CONFLICT"
        if self.state != "CONNECTED":
            return STATES[self.state]
        return "QR" if page.stage == "qr" else "MAIN"

    def stream(self, page: Page) -> Push:
        return to_page(page, {"type": "stream", "mode": self.mode_of(page), "online": self.online})

    def describe(self) -> dict[str, Any]:
        pages = list(self._pages.values())
        return {
            "linked": self.linked,
            "state": self.state,
            "pages": [{"id": p.id, "stage": p.stage, "state": self.mode_of(p)} for p in pages],
            "qr_pages": sum(p.stage == "qr" for p in pages),
            "ready_pages": len(self.active()),
        }

    def open(self, token: str | None) -> tuple[Page, list[Push]]:
        """A page said hello: a known token goes straight to main-ready and pushes out its twin; else QR."""
        page_id = f"page-{next(self._numbers)}"
        pushes: list[Push] = []
        if token and token in self._tokens:
            page = Page(id=page_id, stage="main_ready", token=token)
            pushes = self._conflict_twins(page)
        else:
            page = Page(id=page_id, stage="qr", auth_code=AuthCode.new())
        self._pages[page_id] = page
        return page, pushes

    def close(self, page_id: str) -> bool:
        return self._pages.pop(page_id, None) is not None

    def rotate_qr(self, page_id: str) -> list[Push]:
        """A new ref for a page still on the QR screen (nothing for pages that moved on)."""
        page = self._pages.get(page_id)
        if page is None or page.stage != "qr" or page.auth_code is None:
            return []
        page.auth_code = page.auth_code.rotated()
        return [to_page(page, {"type": "authCode", "authCode": page.auth_code.to_wire()})]

    def link(self, ref: str | None) -> list[Page]:
        """The operator scans the QR: each QR page (or the one showing `ref`) gets its own link token."""
        pages = [p for p in self._pages.values() if p.stage == "qr" and p.auth_code is not None]
        if ref:
            pages = [p for p in pages if p.auth_code and ref in (p.auth_code.ref, p.auth_code.full_code)]
        if not pages:
            raise NoQrPage("no page is showing that QR code" if ref else "no page is showing a QR code")
        for page in pages:
            page.token = new_link_token()
            page.auth_code = None
            page.stage = "main_ready"
            self._tokens.add(page.token)
        return pages

    def logout(self) -> list[Push]:
        """The phone unlinks the device: every token dies and linked pages are told to log out."""
        self._tokens.clear()
        linked = [p for p in self._pages.values() if p.token is not None]
        for page in linked:
            del self._pages[page.id]  # it reloads into a new page; this socket no longer speaks for the account
        return [to_page(p, {"type": "logout"}) for p in linked]

    def set_state(self, state: str) -> list[Push]:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
        self.state = state
        return [self.stream(p) for p in self._pages.values()]

    def take_over(self, page_id: str) -> list[Push]:
        """'Use here' on a page in CONFLICT: it becomes the active one and its twins go to CONFLICT.

        When the whole account was put in CONFLICT (POST /api/state), taking over also reconnects it.
        """
        page = self._pages.get(page_id)
        if page is None or page.stage != "main_ready" or not (page.conflicted or self.state == "CONFLICT"):
            raise Rejected("only a page in CONFLICT can take over")
        pushes = self._conflict_twins(page)
        page.conflicted = False
        if self.state == "CONFLICT":
            return [*pushes, *self.set_state("CONNECTED")]
        return [*pushes, self.stream(page)]

    def _conflict_twins(self, page: Page) -> list[Push]:
        twins = [p for p in self.active() if p.token == page.token and p is not page]
        for twin in twins:
            twin.conflicted = True
        return [self.stream(t) for t in twins]

    def require_active(self, page_id: str) -> Page:
        """The calling page, if it may act for the account."""
        page = self._pages.get(page_id)
        if page is None or page.stage != "main_ready":
            raise Rejected("the page is not main-ready (scan the QR code first)")
        if page.conflicted:
            raise Rejected("WhatsApp is open in another window (CONFLICT)")
        return page
