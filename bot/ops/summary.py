"""The operator's daily summary (DAILY_SUMMARY_AT): what the bot did in the last 24 hours, in a few lines."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.context.escalation import ESCALATED_REASON
from bot.storage import Database, utc_now
from bot.storage.messages import Activity


def format_summary(activity: Activity, *, escalated: int, hours: int = 24) -> str:
    lines = [
        f"Daily summary (last {hours} h):",
        f"- messages in: {activity.received} from {activity.contacts} contact(s)",
        f"- messages out: {activity.sent} (fallbacks, the model was down: {activity.fallbacks})",
        f"- failures: {activity.failed}; too old to answer: {activity.stale}",
        f"- escalated, waiting for you: {escalated}",
        f"- AI: {activity.tokens_in:,} tokens in, {activity.tokens_out:,} out, about ${activity.cost_usd:.4f}",
    ]
    return "\n".join(lines)


async def daily_summary(db: Database, *, now: datetime | None = None, hours: int = 24) -> str:
    now = now or utc_now()
    activity = await db.messages.activity_since(now - timedelta(hours=hours))
    # Contacts are counted in thousands at most (the operator's /status reads them all too).
    escalated = sum(
        1 for contact in await db.contacts.list() if contact.pause_reason == ESCALATED_REASON and contact.paused_at(now)
    )
    return format_summary(activity, escalated=escalated, hours=hours)
