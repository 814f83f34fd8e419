"""The connection's states, and how the page's own report (wa-js) maps onto them.

The mapping is a pure function so every rule is tested without a browser. The supervisor adds the states only it
can know (starting, loading, browser-lost, logged-out, stopped) on top.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class ConnectionState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # launching Chromium on the account's profile
    LOADING = "loading"  # WhatsApp Web (and our code in it) is loading
    NEEDS_LOGIN = "needs-login"  # a QR code or pairing code waits for the phone
    SYNCING = "syncing"  # linked; WhatsApp Web is loading chats or catching up: replies are held
    CONNECTED = "connected"  # authenticated, main-ready and the stream is up: messages flow both ways
    OFFLINE = "offline"  # linked, but WhatsApp's servers are out of reach; it reconnects by itself
    CONFLICT = "conflict"  # WhatsApp Web was opened elsewhere with this account
    LOGGED_OUT = "logged-out"  # the phone unlinked this device; the page goes back to the QR screen
    BLOCKED = "blocked"  # WhatsApp refuses this session (TOS_BLOCK, SMB_TOS_BLOCK, PROXYBLOCK)
    OUTDATED = "outdated"  # WhatsApp Web says this version is too old (DEPRECATED_VERSION)
    BROWSER_LOST = "browser-lost"  # Chromium or the page died or stopped answering; being relaunched


# States in which nothing is wrong that a person must look at, even if messages do not flow yet.
SETTLED_STATES = frozenset(
    {
        ConnectionState.NEEDS_LOGIN,
        ConnectionState.CONNECTED,
        ConnectionState.OFFLINE,
        ConnectionState.CONFLICT,
        ConnectionState.LOGGED_OUT,
        ConnectionState.BLOCKED,
        ConnectionState.OUTDATED,
    }
)
BLOCKED_MODES = frozenset({"TOS_BLOCK", "SMB_TOS_BLOCK", "PROXYBLOCK"})


class PageStatus(BaseModel):
    """Where the page stands, as bridge.js reads it from wa-js (conn.* calls and the stream mode)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    authenticated: bool = False
    main_ready: bool = Field(False, alias="mainReady")
    mode: str | None = None  # wa-js StreamMode: QR, MAIN, SYNCING, OFFLINE, CONFLICT, ...
    online: bool = True
    idle: bool = False  # the QR screen went idle ("click to reload QR code")
    has_auth_code: bool = Field(False, alias="hasAuthCode")


def state_of(page: PageStatus) -> tuple[ConnectionState, str]:
    """The connection state a page report means, and why, in words for the log.

    "Connected" needs all three of authenticated, main-ready and stream mode MAIN: wa-js 4.6.0 fires main-ready
    on the first MAIN *or QR* mode, so main-ready alone is also true on the QR screen.
    """
    mode = page.mode
    if mode in BLOCKED_MODES:
        return ConnectionState.BLOCKED, f"WhatsApp refuses this session ({mode})"
    if mode == "DEPRECATED_VERSION":
        return ConnectionState.OUTDATED, "WhatsApp Web says this version is out of date (DEPRECATED_VERSION)"
    if mode == "CONFLICT":
        return ConnectionState.CONFLICT, "WhatsApp Web is open in another window (CONFLICT)"
    if not page.authenticated:
        if page.idle:
            return ConnectionState.NEEDS_LOGIN, "the QR code expired (idle)"
        if page.has_auth_code:
            return ConnectionState.NEEDS_LOGIN, "waiting for the phone to link this device"
        return ConnectionState.LOADING, f"WhatsApp Web is loading (stream {mode or 'not started'})"
    if mode == "OFFLINE" or not page.online:
        return ConnectionState.OFFLINE, "WhatsApp's servers are out of reach (OFFLINE)"
    if mode == "MAIN" and page.main_ready:
        return ConnectionState.CONNECTED, "linked, main-ready and the stream is up"
    if mode == "MAIN":
        return ConnectionState.SYNCING, "the stream is up but WhatsApp Web is not main-ready yet"
    return ConnectionState.SYNCING, f"WhatsApp Web is syncing (stream {mode or 'not started'})"


class StateChange(BaseModel):
    """One transition, published to the rest of the daemon (alerts, the pipeline, health)."""

    model_config = ConfigDict(frozen=True)

    previous: ConnectionState
    current: ConnectionState
    reason: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class StateHandler(Protocol):
    def __call__(self, change: StateChange) -> None: ...
