"""Scheduled messages in storage: claimed once, guarded state changes, listing, cancelling and retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.storage import Database, utc_now
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus


def scheduled(minutes: float, text: str = "hello", to: str = "15551234567@c.us") -> ScheduledMessage:
    """A message due `minutes` from now (negative: already due)."""
    return ScheduledMessage(to=to, text=text, at=utc_now() + timedelta(minutes=minutes), message_id=f"3EB0{text}")


async def test_add_get_and_list_by_time_without_done_ones_unless_asked(db: Database) -> None:
    later = await db.scheduled.add(scheduled(60, "later"))
    sooner = await db.scheduled.add(scheduled(5, "sooner"))
    done = await db.scheduled.add(scheduled(1, "done"))
    assert await db.scheduled.cancel(done.id) is not None

    stored = await db.scheduled.get(later.id)
    assert stored is not None and stored.status is ScheduledStatus.PENDING and stored.message_id == "3EB0later"
    assert stored.phone == "15551234567"
    assert [m.text for m in await db.scheduled.list()] == ["sooner", "later"]
    assert [m.text for m in await db.scheduled.list(include_done=True)] == ["done", "sooner", "later"]
    assert sooner.id != later.id and len(sooner.id) == 8


async def test_claim_takes_due_pending_messages_oldest_first_and_each_once(db: Database) -> None:
    await db.scheduled.add(scheduled(10, "not due"))
    second = await db.scheduled.add(scheduled(-1, "second"))
    first = await db.scheduled.add(scheduled(-5, "first"))

    claims = await asyncio.gather(*(db.scheduled.claim_due(utc_now()) for _ in range(4)))
    taken = [claim.id for claim in claims if claim is not None]
    assert sorted(taken) == sorted([first.id, second.id])  # two hands never get the same one
    assert await db.scheduled.claim_due(utc_now()) is None

    again = await db.scheduled.get(first.id)
    assert again is not None and again.status is ScheduledStatus.SENDING and again.attempts == 1
    assert again.claimed_at is not None
    assert [m.id for m in await db.scheduled.sending()] == [first.id, second.id]


async def test_oldest_due_is_claimed_first(db: Database) -> None:
    await db.scheduled.add(scheduled(-1, "newer"))
    await db.scheduled.add(scheduled(-30, "older"))
    claim = await db.scheduled.claim_due(utc_now())
    assert claim is not None and claim.text == "older"


async def test_sent_and_failed_only_from_pending_or_sending(db: Database) -> None:
    message = await db.scheduled.add(scheduled(-1))
    claimed = await db.scheduled.claim_due(utc_now())
    assert claimed is not None
    assert await db.scheduled.mark_sent(message.id, wa_id="true_15551234567@c.us_3EB0hello")
    assert not await db.scheduled.mark_sent(message.id, wa_id="again")  # finished once
    assert not await db.scheduled.mark_failed(message.id, error="late")
    stored = await db.scheduled.get(message.id)
    assert stored is not None and stored.status is ScheduledStatus.SENT and stored.sent_at is not None
    assert stored.wa_id == "true_15551234567@c.us_3EB0hello" and stored.error is None

    refused = await db.scheduled.add(scheduled(-1, "refused"))
    assert await db.scheduled.mark_failed(refused.id, error="no such number")
    stored = await db.scheduled.get(refused.id)
    assert stored is not None and stored.status is ScheduledStatus.FAILED and stored.error == "no such number"


async def test_only_pending_messages_can_be_cancelled_and_cancelled_ones_are_never_claimed(db: Database) -> None:
    waiting = await db.scheduled.add(scheduled(-1, "waiting"))
    cancelled = await db.scheduled.cancel(waiting.id)
    assert cancelled is not None and cancelled.status is ScheduledStatus.CANCELLED
    assert await db.scheduled.claim_due(utc_now()) is None
    assert await db.scheduled.cancel(waiting.id) is None  # already cancelled
    assert await db.scheduled.cancel("nosuchid") is None

    sending = await db.scheduled.add(scheduled(-1, "sending"))
    assert await db.scheduled.claim_due(utc_now()) is not None
    assert await db.scheduled.cancel(sending.id) is None  # may be going out right now


async def test_reclaim_counts_another_attempt_only_for_sending_ones(db: Database) -> None:
    message = await db.scheduled.add(scheduled(-1))
    assert await db.scheduled.reclaim(message.id, utc_now()) is None  # pending: claim it instead
    await db.scheduled.claim_due(utc_now())
    again = await db.scheduled.reclaim(message.id, utc_now())
    assert again is not None and again.status is ScheduledStatus.SENDING and again.attempts == 2


async def test_retention_touches_only_done_messages_due_before_the_cutoff(db: Database) -> None:
    old_sent = await db.scheduled.add(scheduled(-60 * 24 * 200, "old sent"))
    await db.scheduled.claim_due(utc_now())
    await db.scheduled.mark_sent(old_sent.id, wa_id="w")
    old_pending = await db.scheduled.add(scheduled(-60 * 24 * 200, "old pending"))  # never sent: kept
    recent = await db.scheduled.add(scheduled(-5, "recent"))
    await db.scheduled.cancel(recent.id)
    cutoff = utc_now() - timedelta(days=180)

    assert await db.scheduled.anonymise_done_before(cutoff) == 1
    assert await db.scheduled.anonymise_done_before(cutoff) == 0  # already empty
    stored = await db.scheduled.get(old_sent.id)
    assert stored is not None and stored.text == "" and stored.status is ScheduledStatus.SENT

    assert await db.scheduled.remove_done_before(cutoff) == 1
    assert {m.id for m in await db.scheduled.list(include_done=True)} == {old_pending.id, recent.id}
