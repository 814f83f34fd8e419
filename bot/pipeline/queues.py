"""Per-key work queues: in order for one key, concurrent across keys, bounded, with priority for the slots."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from loguru import logger

from bot.ops.tasks import TaskSet

Item = TypeVar("Item", bound=Hashable)


class PrioritySlots:
    """At most `size` holders at once; when all are taken, the waiter with the highest priority goes next
    (first come, first served among equals)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int = 0) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # the slot came with the cancellation: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():  # a cancelled waiter is skipped
                granted.set_result(None)
                return
        self._free += 1


class KeyedWorkQueue(Generic[Item]):
    """Runs `handler(item)` for each item put under a key, one at a time per key.

    A key has a worker task only while it has work; the worker and its queue are removed when the queue runs
    dry, so a daemon that hears from thousands of contacts over months does not keep one per contact. An item
    already waiting is not queued again (one that is running may be: it runs once more after). At most
    `max_waiting` items wait; past that `put` refuses (the caller keeps the work elsewhere) and `on_room` is
    called once the backlog is down to half. `ready(item)`, if given, is awaited before an item takes a slot.
    """

    def __init__(
        self,
        handler: Callable[[Item], Awaitable[None]],
        *,
        max_concurrent: int,
        max_waiting: int = 10_000,
        ready: Callable[[Item], Awaitable[None]] | None = None,
        on_room: Callable[[], None] | None = None,
    ) -> None:
        self._handler = handler
        self._ready = ready
        self._on_room = on_room
        self._slots = PrioritySlots(max_concurrent)
        self._max_waiting = max_waiting
        self._queues: dict[str, deque[Item]] = {}
        self._priority: dict[str, int] = {}
        self._waiting: set[Item] = set()
        self._workers = TaskSet()
        self._running = 0
        self.peak_running = 0  # the most items ever handled at once (for metrics, and to prove the bound)
        self._refused = False
        self._stopping = False

    def put(self, key: str, item: Item, *, priority: int = 0) -> bool:
        """Queue `item` under `key`; False if it is already waiting, the backlog is full, or the queue stops."""
        if self._stopping or item in self._waiting:
            return False
        if len(self._waiting) >= self._max_waiting:
            if not self._refused:
                logger.warning(
                    "{} items wait already; more wait where they are stored until there is room", self._max_waiting
                )
            self._refused = True
            return False
        self._waiting.add(item)
        self._priority[key] = max(priority, self._priority.get(key, priority))
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
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        """Items being handled right now."""
        return self._running

    async def _work(self, key: str, queue: deque[Item]) -> None:
        try:
            while queue and not self._stopping:
                item = queue[0]
                if self._ready is not None:
                    await self._ready(item)
                await self._slots.acquire(self._priority.get(key, 0))
                try:
                    if self._stopping:
                        break  # stopped while waiting for a slot: not started, so it is left for the next start
                    queue.popleft()
                    self._item_started(item)
                    self._running += 1
                    self.peak_running = max(self.peak_running, self._running)
                    try:
                        await self._handler(item)
                    except Exception:
                        # One failing item must not stop the key's queue.
                        logger.exception("handling work for {} failed", key)
                    finally:
                        self._running -= 1
                finally:
                    self._slots.release()
        finally:
            # No await between the last check and this removal, so a concurrent put() either saw the
            # queue (and its item is handled above) or creates a new one.
            if self._queues.get(key) is queue and (not queue or self._stopping):
                del self._queues[key]
                self._priority.pop(key, None)
                self._waiting.difference_update(queue)

    def _item_started(self, item: Item) -> None:
        self._waiting.discard(item)
        if self._refused and len(self._waiting) <= self._max_waiting // 2:
            self._refused = False
            if self._on_room is not None:
                self._on_room()

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
        self._waiting.clear()
