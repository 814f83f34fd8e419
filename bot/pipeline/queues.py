"""Per-contact work queues: in order for one contact, concurrent across contacts, bounded overall."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from loguru import logger

from bot.ops.tasks import TaskSet

Item = TypeVar("Item")


class KeyedWorkQueue(Generic[Item]):
    """Runs `handler(item)` for each item put under a key, one at a time per key.

    A key has a worker task only while it has work; the worker and its queue are removed when the queue
    runs dry, so a daemon that hears from thousands of contacts over months does not keep one per contact.
    """

    def __init__(self, handler: Callable[[Item], Awaitable[None]], *, max_concurrent: int) -> None:
        self._handler = handler
        self._slots = asyncio.Semaphore(max_concurrent)
        self._queues: dict[str, deque[Item]] = {}
        self._workers = TaskSet()
        self._closed = False

    def put(self, key: str, item: Item) -> None:
        if self._closed:
            raise RuntimeError("the work queue is closed")
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._workers.spawn(self._work(key, queue), name=f"pipeline:{key}")
        queue.append(item)

    def pending(self, key: str) -> int:
        queue = self._queues.get(key)
        return len(queue) if queue else 0

    @property
    def active_keys(self) -> int:
        return len(self._queues)

    async def _work(self, key: str, queue: deque[Item]) -> None:
        try:
            while queue:
                item = queue[0]
                async with self._slots:
                    try:
                        await self._handler(item)
                    except Exception:
                        # One failing message must not stop the contact's queue.
                        logger.exception("handling work for {} failed", key)
                queue.popleft()
        finally:
            # No await between the last check and this removal, so a concurrent put() either saw the
            # queue (and its item is handled above) or creates a new one.
            if self._queues.get(key) is queue and not queue:
                del self._queues[key]

    async def join(self, timeout_s: float) -> bool:
        """Wait until no key has work left (new work may arrive meanwhile); True if that happened in time."""
        try:
            async with asyncio.timeout(timeout_s):
                while self._queues:
                    await self._workers.wait(timeout_s)
        except TimeoutError:
            return False
        return True

    async def drain(self, timeout_s: float) -> bool:
        """Stop taking work and wait for what is queued to finish; True if it did in time."""
        self._closed = True
        return await self.join(timeout_s)

    async def close(self) -> None:
        """Cancel whatever is still running (after drain timed out)."""
        self._closed = True
        await self._workers.cancel()
        self._queues.clear()
