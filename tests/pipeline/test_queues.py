"""Per-contact queues: in order for one contact, concurrent across contacts, bounded, and idle keys removed."""

from __future__ import annotations

import asyncio

from bot.pipeline.queues import KeyedWorkQueue


async def test_items_of_one_key_run_in_order_even_when_later_ones_are_faster() -> None:
    done: list[str] = []
    # Work of uneven length, later items shorter: each step is a real suspension (a round trip to a worker
    # thread), so items run at the same time would finish out of order.
    steps = {f"m{i}": 20 - i for i in range(20)}

    async def handle(item: str) -> None:
        for _ in range(steps[item]):
            await asyncio.to_thread(int)
        done.append(item)

    queue: KeyedWorkQueue[str] = KeyedWorkQueue(handle, max_concurrent=8)
    for item in steps:
        queue.put("ana", item)
    assert await queue.join(timeout_s=10)
    assert done == list(steps)


async def test_keys_run_concurrently() -> None:
    started = {key: asyncio.Event() for key in ("ana", "ben")}

    async def handle(key: str) -> None:
        started[key].set()
        # Each waits for the other to have started: this only finishes if both run at once.
        other = "ben" if key == "ana" else "ana"
        async with asyncio.timeout(5):
            await started[other].wait()

    queue: KeyedWorkQueue[str] = KeyedWorkQueue(handle, max_concurrent=2)
    queue.put("ana", "ana")
    queue.put("ben", "ben")
    assert await queue.join(timeout_s=10)


async def test_concurrency_is_bounded() -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    async def handle(_: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            release.set()
        async with asyncio.timeout(5):
            await release.wait()
        running -= 1

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=3)
    for contact in range(10):
        queue.put(f"contact-{contact}", contact)
    assert await queue.join(timeout_s=10)
    assert peak == 3


async def test_a_failing_item_does_not_stop_the_key_and_idle_keys_are_removed() -> None:
    done: list[int] = []

    async def handle(item: int) -> None:
        if item == 1:
            raise RuntimeError("boom")
        done.append(item)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=4)
    for item in range(3):
        queue.put("ana", item)
    assert queue.active_keys == 1
    assert await queue.join(timeout_s=10)
    assert done == [0, 2]
    assert queue.active_keys == 0


async def test_work_put_while_the_worker_runs_is_not_lost() -> None:
    done: list[int] = []
    first_running = asyncio.Event()
    go_on = asyncio.Event()

    async def handle(item: int) -> None:
        if item == 0:
            first_running.set()
            async with asyncio.timeout(5):
                await go_on.wait()
        done.append(item)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=1)
    queue.put("ana", 0)
    async with asyncio.timeout(5):
        await first_running.wait()
    queue.put("ana", 1)
    assert queue.pending("ana") == 1  # waiting; 0 is running
    go_on.set()
    assert await queue.join(timeout_s=10)
    assert done == [0, 1]


async def test_join_waits_for_work_without_closing_the_queue() -> None:
    done: list[int] = []
    release = asyncio.Event()

    async def handle(item: int) -> None:
        async with asyncio.timeout(5):
            await release.wait()
        done.append(item)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=2)
    queue.put("ana", 1)
    assert await queue.join(timeout_s=0.05) is False  # still blocked
    release.set()
    assert await queue.join(timeout_s=5) is True
    queue.put("ana", 2)  # still open for work
    assert await queue.join(timeout_s=5) is True
    assert done == [1, 2]


async def test_an_item_waits_once_and_one_running_may_be_queued_again() -> None:
    done: list[str] = []
    running = asyncio.Event()
    go_on = asyncio.Event()

    async def handle(item: str) -> None:
        if not running.is_set():
            running.set()
            async with asyncio.timeout(5):
                await go_on.wait()
        done.append(item)

    queue: KeyedWorkQueue[str] = KeyedWorkQueue(handle, max_concurrent=2)
    assert queue.put("ana", "ana") is True
    async with asyncio.timeout(5):
        await running.wait()
    assert queue.put("ana", "ana") is True  # running: it runs once more after (new messages came)
    assert queue.put("ana", "ana") is False  # waiting already
    go_on.set()
    assert await queue.join(timeout_s=5)
    assert done == ["ana", "ana"]


async def test_when_slots_are_full_higher_priority_goes_first() -> None:
    order: list[str] = []
    first_running = asyncio.Event()
    go_on = asyncio.Event()

    async def handle(item: str) -> None:
        if item == "first":
            first_running.set()
            async with asyncio.timeout(5):
                await go_on.wait()
        order.append(item)

    queue: KeyedWorkQueue[str] = KeyedWorkQueue(handle, max_concurrent=1)
    queue.put("a", "first")
    async with asyncio.timeout(5):
        await first_running.wait()
    queue.put("b", "low", priority=0)
    queue.put("c", "also low", priority=0)
    queue.put("d", "client", priority=5)
    await asyncio.to_thread(int)  # let the three workers line up for the slot
    go_on.set()
    assert await queue.join(timeout_s=5)
    assert order == ["first", "client", "low", "also low"]


async def test_a_full_backlog_refuses_then_says_when_there_is_room() -> None:
    release = asyncio.Event()
    room: list[int] = []

    async def handle(_: int) -> None:
        async with asyncio.timeout(5):
            await release.wait()

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(
        handle, max_concurrent=1, max_waiting=4, on_room=lambda: room.append(queue.waiting)
    )
    assert all(queue.put(f"k{i}", i) for i in range(4))
    assert queue.put("k4", 4) is False  # full: the caller keeps it (the database does)
    release.set()
    assert await queue.join(timeout_s=5)
    assert room == [2]  # told once, when half the backlog had gone


async def test_stop_lets_running_items_finish_and_starts_no_new_one() -> None:
    done: list[int] = []
    running = asyncio.Event()
    go_on = asyncio.Event()

    async def handle(item: int) -> None:
        running.set()
        async with asyncio.timeout(5):
            await go_on.wait()
        done.append(item)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=1)
    queue.put("ana", 1)
    queue.put("ana", 2)
    queue.put("ben", 3)  # waits for the only slot
    async with asyncio.timeout(5):
        await running.wait()
    stopping = asyncio.create_task(queue.stop(timeout_s=5))
    go_on.set()
    assert await stopping is True
    assert done == [1]
    assert queue.put("ana", 4) is False
    assert queue.active_keys == 0


async def test_stop_reports_items_still_running_at_the_deadline() -> None:
    running = asyncio.Event()

    async def handle(_: int) -> None:
        running.set()
        await asyncio.Event().wait()  # never finishes on its own

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=1)
    queue.put("ana", 1)
    async with asyncio.timeout(5):
        await running.wait()
    assert await queue.stop(timeout_s=0.05) is False
    assert queue.running == 1
    await queue.cancel()
    assert queue.running == 0
