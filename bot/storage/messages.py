"""Messages, and the life of each one. Every status change is here, each one a single atomic update guarded by
the status it leaves, so that two hands never move the same message and a crash between two steps leaves a
state the next start resumes.

An inbound message (a contact wrote) carries the state of its answer::

    received --take--> answering --reply stored--> reply-pending --sent--> sent --ack--> delivered --ack--> read
       |                  |                             |
       |                  +--> skipped (reason)         +--> answered-by-fallback (the model could not answer)
       +---------+--------+-----------------------------+--> stale (too old to answer; reported, never late)
                                                        +--> failed (error)

A reply (outbound) is stored `pending` with the message id the bot chose for it before it is sent, then becomes
`sent` with WhatsApp's id, then `delivered` and `read` from acks; or `failed`.

Resuming: `received` and `answering` are answered (again: an answer that was being generated is generated
anew); for `reply-pending` the stored reply is looked up on WhatsApp by its chosen id before it is sent, so it
never goes out twice. The pipeline's queues hold only message ids: this collection is the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from bot.storage.models import GONE_OUT, UNFINISHED, Direction, Message, MessageStatus, utc_now

# wa-js ack levels (WPP.whatsapp.enums.ACK): 2 the contact's phone has it, 3 read, 4 played (a voice note).
ACK_DELIVERED = 2
ACK_READ = 3


def _values(statuses: Iterable[MessageStatus]) -> list[str]:
    return [status.value for status in statuses]


class MessageRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def get(self, message_id: str) -> Message | None:
        raw = await self._collection.find_one({"_id": message_id})
        return Message.from_mongo(raw) if raw else None

    async def add_inbound(
        self, *, wa_id: str, contact_id: str, text: str, wa_time: datetime, kind: str = "chat"
    ) -> Message | None:
        """Store a received message (`received`); returns None when WhatsApp delivered this id before."""
        message = Message(
            wa_id=wa_id,
            contact_id=contact_id,
            direction=Direction.INBOUND,
            status=MessageStatus.RECEIVED,
            text=text,
            kind=kind,
            wa_time=wa_time,
        )
        try:
            await self._collection.insert_one(message.to_mongo())
        except DuplicateKeyError:
            return None
        return message

    async def take(self, message_id: str) -> Message | None:
        """received (or answering, left so by a crash or a stop) -> answering. None if it is in another state.

        The caller is the only worker on this message (the queues hold each id once); the guard on the status
        keeps a settled message settled.
        """
        raw = await self._collection.find_one_and_update(
            {"_id": message_id, "status": {"$in": _values((MessageStatus.RECEIVED, MessageStatus.ANSWERING))}},
            {"$set": {"status": MessageStatus.ANSWERING.value, "updated_at": utc_now()}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return Message.from_mongo(raw) if raw else None

    async def stored_reply(self, inbound: Message) -> Message | None:
        """The reply stored for `inbound` that has not failed: pending (it may have gone out: look it up before
        sending) or already sent (a crash came before the message itself was recorded as answered)."""
        raw = await self._collection.find_one(
            {
                "in_reply_to": inbound.id,
                "direction": Direction.OUTBOUND.value,
                "status": {"$in": _values((MessageStatus.PENDING, *GONE_OUT))},
            }
        )
        return Message.from_mongo(raw) if raw else None

    async def store_reply(
        self, inbound: Message, text: str, *, wa_key: str, fallback: bool = False, error: str | None = None
    ) -> Message:
        """answering -> reply-pending: the reply is stored `pending` with the id it will be sent with (a fallback
        reply with the `error` that made the model fail).

        Two writes: the reply first, so that a crash between them leaves an `answering` message whose pending
        reply `stored_reply` finds (and looks up before sending), never a reply-pending one without its reply.
        """
        reply = Message(
            contact_id=inbound.contact_id,
            direction=Direction.OUTBOUND,
            status=MessageStatus.PENDING,
            text=text,
            wa_key=wa_key,
            in_reply_to=inbound.id,
            fallback=fallback,
            error=error,
        )
        await self._collection.insert_one(reply.to_mongo())
        await self._move(inbound.id, (MessageStatus.ANSWERING,), MessageStatus.REPLY_PENDING, reply_id=reply.id)
        return reply

    async def record_sent(self, inbound: Message, reply: Message, *, wa_id: str) -> None:
        """pending -> sent for the reply (with WhatsApp's id), then reply-pending -> sent (or answered-by-fallback).

        A crash between the two leaves the inbound message reply-pending with a sent reply, which resuming it
        records (the first write is then a no-op), without sending anything.
        """
        now = utc_now()
        await self._move(reply.id, (MessageStatus.PENDING,), MessageStatus.SENT, wa_id=wa_id, sent_at=now)
        answered = MessageStatus.FALLBACK if reply.fallback else MessageStatus.SENT
        await self._move(
            inbound.id,
            (MessageStatus.ANSWERING, MessageStatus.REPLY_PENDING),
            answered,
            reply_id=reply.id,
            sent_at=now,
        )

    async def skip(self, message_id: str, *, reason: str) -> bool:
        """received / answering -> skipped: the bot decided not to answer, and says why."""
        return await self._move(
            message_id, (MessageStatus.RECEIVED, MessageStatus.ANSWERING), MessageStatus.SKIPPED, reason=reason
        )

    async def go_stale(self, message_id: str, *, reason: str) -> bool:
        """Unfinished -> stale: too old to answer now. A reply stored for it is not sent any more."""
        moved = await self._move(message_id, UNFINISHED, MessageStatus.STALE, reason=reason)
        if moved:
            await self._abandon_replies(message_id, f"not sent: the message went stale ({reason})")
        return moved

    async def fail(self, message_id: str, *, error: str) -> bool:
        """Unfinished -> failed, with the error; a reply stored for it and not sent fails with it."""
        moved = await self._move(message_id, UNFINISHED, MessageStatus.FAILED, error=error)
        if moved:
            await self._abandon_replies(message_id, error)
        return moved

    async def _abandon_replies(self, inbound_id: str, error: str) -> None:
        await self._collection.update_many(
            {"in_reply_to": inbound_id, "status": MessageStatus.PENDING.value},
            {"$set": {"status": MessageStatus.FAILED.value, "error": error, "updated_at": utc_now()}},
        )

    async def record_ack(self, wa_ids: list[str], ack: int) -> int:
        """Delivered / read receipts for replies, mirrored on the messages they answer; returns replies moved.

        Acks only ever move forward (a late "delivered" after "read" changes nothing).
        """
        if ack >= ACK_READ:
            target, earlier = MessageStatus.READ, (MessageStatus.SENT, MessageStatus.DELIVERED)
        elif ack == ACK_DELIVERED:
            target, earlier = MessageStatus.DELIVERED, (MessageStatus.SENT,)
        else:
            return 0
        guard = {"status": {"$in": _values(earlier)}}
        change = {"$set": {"status": target.value, "updated_at": utc_now()}}
        replies = [
            raw["_id"]
            async for raw in self._collection.find(
                {"wa_id": {"$in": wa_ids}, "direction": Direction.OUTBOUND.value, **guard}, {"_id": 1}
            )
        ]
        if not replies:
            return 0
        await self._collection.update_many({"_id": {"$in": replies}, **guard}, change)
        await self._collection.update_many(
            {"reply_id": {"$in": replies}, "direction": Direction.INBOUND.value, **guard}, change
        )
        return len(replies)

    async def unfinished(self) -> list[Message]:
        """Inbound messages not settled yet, oldest first: what the reconciler puts back in the queues."""
        cursor = self._collection.find(
            {"direction": Direction.INBOUND.value, "status": {"$in": _values(UNFINISHED)}}
        ).sort("created_at", ASCENDING)
        return [Message.from_mongo(raw) async for raw in cursor]

    async def _move(self, message_id: str, leaving: Iterable[MessageStatus], to: MessageStatus, **fields: Any) -> bool:
        """One status change: only from the states it may leave; True if it happened."""
        result = await self._collection.update_one(
            {"_id": message_id, "status": {"$in": _values(leaving)}},
            {"$set": {"status": to.value, "updated_at": utc_now(), **fields}},
        )
        return bool(result.matched_count)

    async def history(self, current: Message, *, limit: int) -> list[Message]:
        """What was said in this contact's chat before `current`, oldest first, at most `limit` messages.

        Inbound messages that arrived after `current` are left out (they are answered later, in turn), but
        every reply that went out so far is in, even one sent after `current` arrived: the contact has seen it.
        Replies that never went out (pending, failed) are not part of the conversation.
        """
        if limit <= 0:
            return []
        query = {
            "contact_id": current.contact_id,
            "_id": {"$ne": current.id},
            "$or": [
                {"direction": Direction.OUTBOUND.value, "status": {"$in": _values(GONE_OUT)}},
                {"direction": Direction.INBOUND.value, "created_at": {"$lt": current.created_at}},
            ],
        }
        cursor = self._collection.find(query).sort("created_at", DESCENDING).limit(limit)
        newest_first = [Message.from_mongo(raw) async for raw in cursor]
        return newest_first[::-1]

    async def for_contact(self, contact_id: str) -> list[Message]:
        """Every message of one contact, oldest first (for tools and tests; not used per message)."""
        cursor = self._collection.find({"contact_id": contact_id}).sort("created_at", 1)
        return [Message.from_mongo(raw) async for raw in cursor]
