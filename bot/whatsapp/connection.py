"""The connection's current state: one place that changes it, logs each change once, and tells everyone."""

from __future__ import annotations

import asyncio
import time

from loguru import logger

from bot.whatsapp.states import ConnectionState, StateChange, StateHandler

# How loudly each state is announced: the ones that need a look are warnings.
WARNING_STATES = frozenset(
    {
        ConnectionState.OFFLINE,
        ConnectionState.CONFLICT,
        ConnectionState.LOGGED_OUT,
        ConnectionState.BLOCKED,
        ConnectionState.OUTDATED,
        ConnectionState.BROWSER_LOST,
    }
)


class Connection:
    """State, reason and since when; waiters wake and subscribers are called on every change."""

    def __init__(self) -> None:
        self.state = ConnectionState.STOPPED
        self.reason = "not started"
        self.since = time.monotonic()
        self.generation = 0  # counts changes: "has anything happened since?" without holding on to states
        self._subscribers: list[StateHandler] = []
        # Replaced on every change; waiters hold the old one and wake when it is set.
        self._changed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def subscribe(self, handler: StateHandler) -> None:
        """`handler(change)` runs synchronously on every change; it must not block (spawn work instead)."""
        self._subscribers.append(handler)

    def set(self, state: ConnectionState, reason: str) -> StateChange | None:
        """Move to `state`; returns the change, or None when it was the state already."""
        if state is self.state:
            self.reason = reason
            return None
        change = StateChange(previous=self.state, current=state, reason=reason)
        self.state, self.reason, self.since = state, reason, time.monotonic()
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        level = "WARNING" if state in WARNING_STATES else "INFO"
        logger.log(level, "WhatsApp: {} -> {}: {}", change.previous.value, state.value, reason)
        for handler in self._subscribers:
            try:
                handler(change)
            except Exception:
                logger.exception("a WhatsApp state subscriber failed on {}", state.value)
        return change

    async def wait_for(self, *states: ConnectionState, timeout_s: float | None) -> ConnectionState:
        """Wait until the state is one of `states`; returns it. Raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            while self.state not in states:
                await self._changed.wait()
        return self.state

    async def wait_change(self, timeout_s: float) -> bool:
        """Wait for the next change, at most `timeout_s`; True if there was one."""
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True
