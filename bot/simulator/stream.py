"""Stream states as WhatsApp Web shows them, and when a page's conn.main_ready fires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.simulator.inbound import BadInput


@dataclass(frozen=True)
class StreamState:
    """What a linked page shows in one account state: wa-js StreamMode, NetworkStatus, StreamInfo, SOCKET_STATE."""

    mode: str
    online: bool
    info: str
    socket: str

    @property
    def live(self) -> bool:
        """The page is talking to WhatsApp: messages arrive as events (MAIN, or SYNCING as after a reconnect)."""
        return self.mode in ("MAIN", "SYNCING")


# POST /api/state names (SOCKET_STATE and StreamMode names) -> what linked pages show.
STATES = {
    "CONNECTED": StreamState("MAIN", True, "NORMAL", "CONNECTED"),
    "SYNCING": StreamState("SYNCING", True, "SYNCING", "CONNECTED"),
    "PAIRING": StreamState("SYNCING", True, "PAIRING", "PAIRING"),
    "OFFLINE": StreamState("OFFLINE", False, "OFFLINE", "OPENING"),
    "OPENING": StreamState("OFFLINE", False, "OPENING", "OPENING"),
    "TIMEOUT": StreamState("OFFLINE", False, "CONNECTING", "TIMEOUT"),
    "CONFLICT": StreamState("CONFLICT", True, "NORMAL", "CONFLICT"),
    "TOS_BLOCK": StreamState("TOS_BLOCK", True, "NORMAL", "TOS_BLOCK"),
    "SMB_TOS_BLOCK": StreamState("SMB_TOS_BLOCK", True, "NORMAL", "SMB_TOS_BLOCK"),
    "PROXYBLOCK": StreamState("PROXYBLOCK", True, "NORMAL", "PROXYBLOCK"),
    "DEPRECATED_VERSION": StreamState("DEPRECATED_VERSION", True, "NORMAL", "DEPRECATED_VERSION"),
}
# Not a state the account stays in: the server forgot the device (the same as POST /api/logout).
UNPAIRED = "UNPAIRED"
ACCEPTED_STATES = (*STATES, UNPAIRED)


def check_state(name: str) -> str:
    """The state name, or ValueError listing the accepted ones."""
    if name not in ACCEPTED_STATES:
        raise ValueError(f"unknown state {name!r}; expected one of {', '.join(ACCEPTED_STATES)}")
    return name


MainReadyMode = Literal["normal", "never", "before-auth"]
MAIN_READY_MODES: tuple[MainReadyMode, ...] = ("normal", "never", "before-auth")


@dataclass(frozen=True)
class MainReady:
    """When conn.main_ready fires on pages that open or link from now on (POST /api/main-ready).

    normal: once the linked page reaches MAIN. never: it never does (stuck in SYNCING, as after a bad WhatsApp
    Web update). before-auth: as wa-js 4.6.0 really does, on the first stream mode MAIN *or QR*, once per page
    load. delay_s holds MAIN (and so main_ready) back that long after the page would have reached it.
    """

    mode: MainReadyMode = "normal"
    delay_s: float = 0.0

    @classmethod
    def parse(cls, body: Any) -> MainReady:
        """From {"mode", "delay_ms"}; missing fields take their defaults. Raises BadInput."""
        if not isinstance(body, dict):
            raise BadInput('expected a JSON object like {"mode": "normal", "delay_ms": 0}')
        unknown = set(body) - {"mode", "delay_ms"}
        if unknown:
            raise BadInput(f"unknown fields {sorted(unknown)}; expected mode and delay_ms")
        mode = body.get("mode", "normal")
        if mode not in MAIN_READY_MODES:
            raise BadInput(f"mode must be one of {', '.join(MAIN_READY_MODES)}, got {mode!r}")
        delay_ms = body.get("delay_ms", 0)
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or not 0 <= delay_ms <= 3_600_000:
            raise BadInput(f"delay_ms must be a number of milliseconds from 0 to 3600000, got {delay_ms!r}")
        return cls(mode=mode, delay_s=delay_ms / 1000)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_ms": round(self.delay_s * 1000)}
