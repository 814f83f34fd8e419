"""The tests' one way to wait for state that has no event of its own (files, processes, the database)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

POLL_S = 0.05


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30.0) -> None:
    """Check `condition` until it holds; TimeoutError after `timeout_s`. An exception from it ends the wait."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = condition()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(POLL_S)
