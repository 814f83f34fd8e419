"""The daily summary counts the last 24 hours: messages in and out, contacts, failures, escalations, AI cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.context.escalation import ESCALATED_REASON, UNTIL_RESUMED
from bot.ops.summary import daily_summary
from bot.storage import Database, Direction, Message, MessageStatus
from bot.storage.models import ReplyUsage

NOW = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


async def put(db: Database, contact: str, direction: Direction, status: MessageStatus, **fields: object) -> None:
    at = fields.pop("at", NOW - timedelta(hours=1))
    message = Message.model_validate(
        {"contact_id": contact, "direction": direction, "status": status, "text": "x", "created_at": at, **fields}
    )
    await db.messages._collection.insert_one(message.to_mongo())


async def test_the_summary_counts_the_last_day_only(db: Database) -> None:
    usage = ReplyUsage(persona="assistant", model="gemini", tokens_in=1200, tokens_out=300, cost_usd=0.0125)
    for contact in ("1@c.us", "1@c.us", "2@c.us"):
        await put(db, contact, Direction.INBOUND, MessageStatus.SENT)
    await put(db, "3@c.us", Direction.INBOUND, MessageStatus.FAILED)
    await put(db, "3@c.us", Direction.INBOUND, MessageStatus.STALE)
    await put(db, "1@c.us", Direction.OUTBOUND, MessageStatus.READ, usage=usage.model_dump())
    await put(db, "2@c.us", Direction.OUTBOUND, MessageStatus.DELIVERED, usage=usage.model_dump())
    await put(db, "2@c.us", Direction.OUTBOUND, MessageStatus.SENT, fallback=True)
    await put(db, "2@c.us", Direction.OUTBOUND, MessageStatus.FAILED)  # never went out
    await put(db, "9@c.us", Direction.INBOUND, MessageStatus.SENT, at=NOW - timedelta(hours=30))  # yesterday
    await db.contacts.pause("3@c.us", UNTIL_RESUMED, ESCALATED_REASON)
    await db.contacts.pause("4@c.us", NOW + timedelta(minutes=10), "the operator wrote from the phone")

    text = await daily_summary(db, now=NOW)

    assert text.splitlines() == [
        "Daily summary (last 24 h):",
        "- messages in: 5 from 3 contact(s)",
        "- messages out: 3 (fallbacks, the model was down: 1)",
        "- failures: 2; too old to answer: 1",
        "- escalated, waiting for you: 1",
        "- AI: 2,400 tokens in, 600 out, about $0.0250",
    ]


async def test_a_quiet_day(db: Database) -> None:
    text = await daily_summary(db, now=NOW)
    assert "messages in: 0 from 0 contact(s)" in text and "about $0.0000" in text
