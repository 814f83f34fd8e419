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
    """Runs `handler(item)` for each item put under a key, one at a time per key, each item once.

    A key has a worker task only while it has work; the worker and its queue are removed when the queue
    runs dry, so a daemon that hears from thousands of contacts over months does not keep one per contact.
    An item already waiting or running is not queued again, so whoever finds unfinished work (the inbox, the
    reconciler) can simply put it.
    """

    def __init__(self, handler: Callable[[Item], Awaitable[None]], *, max_concurrent: int) -> None:
        self._handler = handler
        self._slots = asyncio.Semaphore(max_concurrent)
        self._queues: dict[str, deque[Item]] = {}
        self._known: set[Item] = set()
        self._workers = TaskSet()
        self._running = 0
        self._stopping = False

    def put(self, key: str, item: Item) -> bool:
        """Queue `item` under `key`; False if it is already there, or if the queue is stopping."""
        if self._stopping or item in self._known:
            return False
        self._known.add(item)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._workers.spawn(self._work(key, queue), name=f"pipeline:{key}")
        queue.append(item)
        return True

    def pending(self, key: str) -> int:
        queue = self._queues.get(key)
        return len(queue) if queue else 0

    @property
    def active_keys(self) -> int:
        return len(self._queues)

    @property
    def running(self) -> int:
        """Items being handled right now."""
        return self._running

    async def _work(self, key: str, queue: deque[Item]) -> None:
        try:
            while queue and not self._stopping:
                item = queue[0]
                async with self._slots:
                    if self._stopping:
                        break  # stopped while waiting for a slot: not started, so it is left for the next start
                    self._running += 1
                    try:
                        await self._handler(item)
                    except Exception:
                        # One failing item must not stop the contact's queue.
                        logger.exception("handling work for {} failed", key)
                    finally:
                        self._running -= 1
                queue.popleft()
                self._known.discard(item)
        finally:
            # No await between the last check and this removal, so a concurrent put() either saw the
            # queue (and its item is handled above) or creates a new one.
            if self._queues.get(key) is queue and (not queue or self._stopping):
                del self._queues[key]
                self._known.difference_update(queue)

    async def join(self, timeout_s: float) -> bool:
        """Wait until no key has work left (new work may arrive meanwhile); True if that happened in time."""
        try:
            async with asyncio.timeout(timeout_s):
                while self._queues:
                    await self._workers.wait(timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout_s: float) -> bool:
        """Start nothing new; wait for the items already running to finish. True if they did in time.

        Items still waiting stay where the caller keeps the truth (the database) for the next start.
        """
        self._stopping = True
        return await self._workers.wait(timeout_s)

    async def cancel(self) -> None:
        """Cancel whatever is still running (after `stop` timed out)."""
        self._stopping = True
        await self._workers.cancel()
        self._queues.clear()
        self._known.clear()
