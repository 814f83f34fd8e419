"""Messages, and the life of each one. Every status change is here, each one an update guarded by the status it
leaves, so that two hands never move the same message and a crash between two steps leaves a state the next
start resumes.

An inbound message (a contact wrote) carries the state of its answer::

    received --take--> answering --reply stored--> reply-pending --sent--> sent --ack--> delivered --ack--> read
       |                  |                             |
       |                  +--> skipped (reason)         +--> answered-by-fallback (model down: a real answer is
       +---------+--------+-----------------------------+    still owed, and taken up again once it is back)
                                                        +--> stale (too old to answer; reported, never late)
                                                        +--> failed (error)

A worker takes a contact's waiting messages together (a turn: people write in fragments) and answers them with
one reply. A reply (outbound) is stored `pending`, with the message id the bot chose for it and the turn it
answers, before it is sent; then it becomes `sent` with WhatsApp's id, then `delivered` and `read` from acks;
or `failed`.

Resuming: the messages of a turn cut short (a crash, a stop, an outage) are `answering` or `reply-pending`. If
their turn's reply was stored, it is looked up on WhatsApp by its chosen id before it is sent, so it never goes
out twice; otherwise they are simply taken again. The pipeline's queues hold only contact ids: this collection
is the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from bot.storage.models import (
    GONE_OUT,
    UNFINISHED,
    Direction,
    Message,
    MessageStatus,
    ReplyUsage,
    new_id,
    utc_now,
)

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
        self,
        *,
        wa_id: str,
        contact_id: str,
        text: str,
        wa_time: datetime,
        kind: str = "chat",
        is_group: bool = False,
        author: str | None = None,
        mentions_me: bool = False,
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
            is_group=is_group,
            author=author,
            mentions_me=mentions_me,
        )
        try:
            await self._collection.insert_one(message.to_mongo())
        except DuplicateKeyError:
            return None
        return message

    async def sent_by_bot(self, wa_id: str) -> bool:
        """Whether an own message (`true_<chat>_<id>`) is one the bot stored to send, rather than the operator
        typing on the phone. Replies are stored with their id before they go out, so their echo is known."""
        key = wa_id.rpartition("_")[2]
        return await self._collection.find_one({"wa_key": key, "direction": Direction.OUTBOUND.value}) is not None

    async def last_reply(self, contact_id: str) -> Message | None:
        """The newest reply that went out to this contact."""
        raw = await self._collection.find_one(
            {"contact_id": contact_id, "direction": Direction.OUTBOUND.value, "status": {"$in": _values(GONE_OUT)}},
            sort=[("created_at", DESCENDING)],
        )
        return Message.from_mongo(raw) if raw else None

    async def take_turn(self, contact_id: str, *, owed: bool = False) -> list[Message]:
        """A contact's waiting messages (received, or answering and left so by a crash) -> answering, together,
        under a new turn; with `owed`, also those answered by the fallback (the model is back). Oldest first."""
        waiting = await self.unfinished(contact_id, owed=owed)
        return await self.claim([message for message in waiting if message.status is not MessageStatus.REPLY_PENDING])

    async def unfinished(self, contact_id: str, *, owed: bool = False) -> list[Message]:
        """The contact's inbound messages a worker has to look at: waiting (received), taken up and not answered
        (answering, reply-pending: left so by a crash or a stop) and, with `owed`, answered by the fallback.
        Oldest first. One read: the worker claims the waiting ones with `claim`, and resumes the rest."""
        statuses = [MessageStatus.RECEIVED, MessageStatus.ANSWERING, MessageStatus.REPLY_PENDING]
        if owed:
            statuses.append(MessageStatus.FALLBACK)
        cursor = self._collection.find(
            {"contact_id": contact_id, "direction": Direction.INBOUND.value, "status": {"$in": _values(statuses)}}
        ).sort("created_at", ASCENDING)
        return [Message.from_mongo(raw) async for raw in cursor]

    async def claim(self, messages: list[Message]) -> list[Message]:
        """These messages (from `unfinished`: received, answering, or answered by the fallback) -> answering,
        under a new turn, in one write: the worker already read them. Those that moved on meanwhile are left out;
        a message that arrived since is not taken (it comes in the next turn)."""
        if not messages:
            return []
        turn, now = new_id(), utc_now()
        leaving = _values((MessageStatus.RECEIVED, MessageStatus.ANSWERING, MessageStatus.FALLBACK))
        result = await self._collection.update_many(
            {"_id": {"$in": [message.id for message in messages]}, "status": {"$in": leaving}},
            {
                "$set": {"status": MessageStatus.ANSWERING.value, "turn": turn, "updated_at": now},
                "$inc": {"attempts": 1},
            },
        )
        if result.modified_count != len(messages):  # something else moved some of them meanwhile: read back
            cursor = self._collection.find({"turn": turn, "direction": Direction.INBOUND.value})
            return [Message.from_mongo(raw) async for raw in cursor.sort("created_at", ASCENDING)]
        return [
            message.model_copy(
                update={
                    "status": MessageStatus.ANSWERING,
                    "turn": turn,
                    "updated_at": now,
                    "attempts": message.attempts + 1,
                }
            )
            for message in messages
        ]

    async def cut_short(self, contact_id: str) -> list[tuple[list[Message], list[Message]]]:
        """Turns of this contact whose reply was stored but whose messages are not recorded as answered: for each,
        the reply's parts (in order) and the messages. A pending part may have gone out (look it up before
        sending it); a sent one needs nothing more."""
        waiting = [
            Message.from_mongo(raw)
            async for raw in self._collection.find(
                {
                    "contact_id": contact_id,
                    "direction": Direction.INBOUND.value,
                    "status": {"$in": _values((MessageStatus.ANSWERING, MessageStatus.REPLY_PENDING))},
                }
            ).sort("created_at", ASCENDING)
        ]
        turns = list(dict.fromkeys(message.turn for message in waiting if message.turn))
        found = []
        for turn in turns:
            parts = [
                Message.from_mongo(raw)
                async for raw in self._collection.find(
                    {"turn": turn, "direction": Direction.OUTBOUND.value, "status": {"$ne": MessageStatus.FAILED.value}}
                ).sort("created_at", ASCENDING)
            ]
            if parts:
                found.append((parts, [message for message in waiting if message.turn == turn]))
        return found

    async def store_reply(
        self,
        turn: list[Message],
        parts: list[tuple[str, str]],
        *,
        fallback: bool = False,
        error: str | None = None,
        usage: ReplyUsage | None = None,
        mark_pending: bool = True,
    ) -> list[Message]:
        """answering -> reply-pending: the reply to the messages of one turn is stored `pending`, as its parts
        (text, the message id it will be sent with), in order; a fallback reply with the `error` that made the
        model fail; a model's reply with its `usage` (on the first part).

        Two writes: the parts first, so that a crash between them leaves `answering` messages whose stored reply
        `cut_short` finds (and looks up before sending), never reply-pending ones without their reply. With
        `mark_pending=False` only the first: the caller marks them (`reply_pending`) while the reply goes out.
        """
        newest = turn[-1]
        if newest.turn is None or any(message.turn != newest.turn for message in turn):
            raise ValueError("a reply answers the messages of one turn (taken with take_turn)")
        replies = [
            Message(
                contact_id=newest.contact_id,
                direction=Direction.OUTBOUND,
                status=MessageStatus.PENDING,
                text=text,
                wa_key=wa_key,
                in_reply_to=newest.id,
                answers=[message.id for message in turn],
                turn=newest.turn,
                fallback=fallback,
                error=error,
                usage=usage if position == 0 else None,
            )
            for position, (text, wa_key) in enumerate(parts)
        ]
        await self._collection.insert_many([reply.to_mongo() for reply in replies])
        if mark_pending:
            await self.reply_pending(replies)
        return replies

    async def reply_pending(self, parts: list[Message]) -> None:
        """The messages a stored reply answers: answering -> reply-pending. Only from answering, so that done
        after the reply went out (and they moved on) it changes nothing."""
        await self._move_turn(parts[0], (MessageStatus.ANSWERING,), MessageStatus.REPLY_PENDING)

    async def part_sent(self, part: Message, *, wa_id: str) -> None:
        """pending -> sent, with WhatsApp's id, for one part of a reply (and on to its receipt, if that came
        first: WhatsApp may report delivery before the send call has returned)."""
        raw = await self._collection.find_one_and_update(
            {"_id": part.id, "status": MessageStatus.PENDING.value},
            {
                "$set": {
                    "status": MessageStatus.SENT.value,
                    "wa_id": wa_id,
                    "sent_at": utc_now(),
                    "updated_at": utc_now(),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if raw and (raw.get("ack") or 0) >= ACK_DELIVERED:
            await self.record_ack([wa_id], raw["ack"])

    async def turn_answered(self, parts: list[Message]) -> None:
        """The whole reply went out: its messages -> sent (or answered-by-fallback).

        A crash before this leaves reply-pending messages with a sent reply, which resuming them records without
        sending anything.
        """
        last = parts[-1]
        answered = MessageStatus.FALLBACK if last.fallback else MessageStatus.SENT
        await self._move_turn(last, (MessageStatus.ANSWERING, MessageStatus.REPLY_PENDING), answered, sent_at=utc_now())
        # A receipt that came before the messages were recorded as answered is mirrored on them now.
        stored = await self.get(last.id)
        if stored is not None and stored.wa_id and (stored.ack or 0) >= ACK_DELIVERED:
            await self.record_ack([stored.wa_id], stored.ack or 0)

    async def covered_by_fallback(self, messages: list[Message]) -> None:
        """answering -> answered-by-fallback without a reply of their own: the contact already has the fallback
        for this outage, and these are owed a real answer with the rest."""
        await self._move_all(messages, (MessageStatus.ANSWERING,), MessageStatus.FALLBACK)

    async def skip(self, messages: list[Message], *, reason: str) -> None:
        """received / answering -> skipped: the bot decided not to answer, and says why."""
        await self._move_all(
            messages, (MessageStatus.RECEIVED, MessageStatus.ANSWERING), MessageStatus.SKIPPED, reason=reason
        )

    async def go_stale(self, messages: list[Message], *, reason: str) -> None:
        """Unfinished -> stale: too old to answer now. A reply stored for them is not sent any more."""
        await self._move_all(messages, (*UNFINISHED, MessageStatus.FALLBACK), MessageStatus.STALE, reason=reason)
        await self._abandon_replies(messages, f"not sent: the message went stale ({reason})")

    async def fail(self, messages: list[Message], *, error: str) -> None:
        """Unfinished -> failed, with the error; a reply stored for them and not sent fails with them."""
        await self._move_all(messages, UNFINISHED, MessageStatus.FAILED, error=error)
        await self._abandon_replies(messages, error)

    async def _abandon_replies(self, messages: list[Message], error: str) -> None:
        turns = sorted({message.turn for message in messages if message.turn})
        if turns:
            await self._collection.update_many(
                {"turn": {"$in": turns}, "direction": Direction.OUTBOUND.value, "status": MessageStatus.PENDING.value},
                {"$set": {"status": MessageStatus.FAILED.value, "error": error, "updated_at": utc_now()}},
            )

    async def record_ack(self, wa_ids: list[str], ack: int) -> int:
        """Delivered / read receipts for replies, mirrored on the messages they answer; returns replies moved.

        Acks only ever move forward (a late "delivered" after "read" changes nothing). The receipt is also kept on
        the reply by the id the bot chose for it, so one that arrives before the reply is recorded as sent is
        applied when it is (`part_sent`).
        """
        keys = [wa_id.rpartition("_")[2] for wa_id in wa_ids]
        await self._collection.update_many(
            {"wa_key": {"$in": keys}, "direction": Direction.OUTBOUND.value}, {"$max": {"ack": ack}}
        )
        earlier: tuple[MessageStatus, ...]
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
                {"wa_id": {"$in": wa_ids}, "direction": Direction.OUTBOUND.value}, {"_id": 1}
            )
        ]
        if not replies:
            return 0
        moved = await self._collection.update_many({"_id": {"$in": replies}, **guard}, change)
        await self._collection.update_many(
            {"reply_id": {"$in": replies}, "direction": Direction.INBOUND.value, **guard}, change
        )
        return int(moved.modified_count)

    async def waiting_contacts(self, *, owed: bool = False) -> list[str]:
        """Contacts with messages not settled yet (and, with `owed`, those owed a real answer after a fallback),
        the longest waiting first: what the reconciler puts back in the queues."""
        statuses = [*UNFINISHED, MessageStatus.FALLBACK] if owed else list(UNFINISHED)
        cursor = self._collection.find(
            {"direction": Direction.INBOUND.value, "status": {"$in": _values(statuses)}}, {"contact_id": 1}
        ).sort("created_at", ASCENDING)
        return list(dict.fromkeys([raw["contact_id"] async for raw in cursor]))

    async def count_since(self, since: datetime, direction: Direction) -> int:
        """How many messages going this way were stored since `since` (the operator's /status)."""
        return int(
            await self._collection.count_documents({"direction": direction.value, "created_at": {"$gte": since}})
        )

    async def _move(self, message_id: str, leaving: Iterable[MessageStatus], to: MessageStatus, **fields: Any) -> bool:
        """One status change: only from the states it may leave; True if it happened."""
        result = await self._collection.update_one(
            {"_id": message_id, "status": {"$in": _values(leaving)}},
            {"$set": {"status": to.value, "updated_at": utc_now(), **fields}},
        )
        return bool(result.matched_count)

    async def _move_all(
        self, messages: list[Message], leaving: Iterable[MessageStatus], to: MessageStatus, **fields: Any
    ) -> None:
        if messages:
            await self._collection.update_many(
                {"_id": {"$in": [message.id for message in messages]}, "status": {"$in": _values(leaving)}},
                {"$set": {"status": to.value, "updated_at": utc_now(), **fields}},
            )

    async def _move_turn(
        self, reply: Message, leaving: Iterable[MessageStatus], to: MessageStatus, **fields: Any
    ) -> None:
        """The messages a reply answers: one update, guarded by their status and their turn."""
        await self._collection.update_many(
            {"turn": reply.turn, "direction": Direction.INBOUND.value, "status": {"$in": _values(leaving)}},
            {"$set": {"status": to.value, "reply_id": reply.id, "updated_at": utc_now(), **fields}},
        )

    async def history(self, current: Message, *, limit: int, after: datetime | None = None) -> list[Message]:
        """What was said in this contact's chat before `current`, oldest first, at most `limit` messages, and only
        what was stored after `after` (older turns are in a summary).

        Inbound messages that arrived after `current` are left out (they are answered later, in turn), but
        every reply that went out so far is in, even one sent after `current` arrived: the contact has seen it.
        Replies that never went out (pending, failed) are not part of the conversation, nor fallback replies: they
        say nothing, and the messages they covered are to be answered for real. Nor are messages that failed (one
        that made the model fail would fail every later answer) or were skipped (empty, binary, not for the bot).
        """
        if limit <= 0:
            return []
        query = _said(current.contact_id, inbound_before=current.created_at)
        query["_id"] = {"$ne": current.id}
        if after is not None:
            query["created_at"] = {"$gt": after}
        cursor = self._collection.find(query).sort("created_at", DESCENDING).limit(limit)
        newest_first = [Message.from_mongo(raw) async for raw in cursor]
        return newest_first[::-1]

    async def said_between(self, contact_id: str, *, after: datetime | None, upto: datetime) -> list[Message]:
        """What was said (as `history` counts it) stored after `after` and up to `upto`, oldest first: the turns
        a summary folds in."""
        query = _said(contact_id, inbound_before=None)
        query["created_at"] = {"$lte": upto, **({"$gt": after} if after is not None else {})}
        cursor = self._collection.find(query).sort("created_at", ASCENDING)
        return [Message.from_mongo(raw) async for raw in cursor]

    async def for_contact(self, contact_id: str) -> list[Message]:
        """Every message of one contact, oldest first (for tools and tests; not used per message)."""
        cursor = self._collection.find({"contact_id": contact_id}).sort("created_at", 1)
        return [Message.from_mongo(raw) async for raw in cursor]

    async def forget(self, contact_id: str) -> int:
        """Delete the contact's messages, and those they wrote in groups (a privacy request); returns how many."""
        result = await self._collection.delete_many({"$or": [{"contact_id": contact_id}, {"author": contact_id}]})
        return int(result.deleted_count)

    async def store_outbound(self, message_id: str, *, contact_id: str, text: str, wa_key: str) -> Message:
        """A message the bot sends on its own, outside a turn (a scheduled message, one sent through the HTTP API),
        recorded `pending` with the id it is sent with: its echo is then known as the bot's (not the operator
        taking the chat over), and once sent it is part of the conversation the model sees. Stored once however
        often the send is tried (`message_id` is the caller's, stable across tries)."""
        message = Message(
            id=message_id,
            contact_id=contact_id,
            direction=Direction.OUTBOUND,
            status=MessageStatus.PENDING,
            text=text,
            wa_key=wa_key,
        )
        await self._collection.update_one({"_id": message.id}, {"$setOnInsert": message.to_mongo()}, upsert=True)
        return await self.get(message.id) or message

    async def outbound_failed(self, message: Message, *, error: str) -> None:
        """pending -> failed for a message stored with `store_outbound` that could not be sent."""
        await self._move(message.id, (MessageStatus.PENDING,), MessageStatus.FAILED, error=error)

    async def remove_settled_before(self, cutoff: datetime) -> int:
        """Retention: delete messages stored before `cutoff` whose life is over; returns how many."""
        result = await self._collection.delete_many(_settled_before(cutoff))
        return int(result.deleted_count)

    async def anonymise_settled_before(self, cutoff: datetime) -> int:
        """Retention, anonymise mode: empty the text of settled messages stored before `cutoff` (they still
        count); returns how many were emptied now."""
        result = await self._collection.update_many(
            {**_settled_before(cutoff), "text": {"$ne": ""}}, {"$set": {"text": ""}}
        )
        return int(result.modified_count)

    async def activity_since(self, since: datetime) -> Activity:
        """What happened since `since` (the operator's daily summary): one pass over that window's messages."""
        activity = Activity()
        contacts: set[str] = set()
        fields = {"direction": 1, "status": 1, "contact_id": 1, "fallback": 1, "usage": 1}
        async for raw in self._collection.find({"created_at": {"$gte": since}}, fields):
            status = raw.get("status")
            if raw.get("direction") == Direction.INBOUND.value:
                activity.received += 1
                contacts.add(raw.get("contact_id", ""))
                activity.stale += status == MessageStatus.STALE.value
            elif status in _values(GONE_OUT):
                activity.sent += 1
                activity.fallbacks += bool(raw.get("fallback"))
            activity.failed += status == MessageStatus.FAILED.value
            if usage := raw.get("usage"):
                activity.tokens_in += int(usage.get("tokens_in") or 0)
                activity.tokens_out += int(usage.get("tokens_out") or 0)
                activity.cost_usd += float(usage.get("cost_usd") or 0.0)
        activity.contacts = len(contacts)
        return activity


def _said(contact_id: str, *, inbound_before: datetime | None) -> dict[str, Any]:
    """The messages that are part of a contact's conversation: replies that went out (not fallbacks), and inbound
    messages that neither failed nor were skipped (stored before `inbound_before`, when given)."""
    inbound: dict[str, Any] = {
        "direction": Direction.INBOUND.value,
        "status": {"$nin": _values((MessageStatus.FAILED, MessageStatus.SKIPPED))},
    }
    if inbound_before is not None:
        inbound["created_at"] = {"$lt": inbound_before}
    outbound = {"direction": Direction.OUTBOUND.value, "status": {"$in": _values(GONE_OUT)}, "fallback": {"$ne": True}}
    return {"contact_id": contact_id, "$or": [outbound, inbound]}


def _settled_before(cutoff: datetime) -> dict[str, Any]:
    """Messages stored before `cutoff` that nothing will touch again: not unfinished, not a reply still pending,
    not owed a real answer after a fallback."""
    keep = _values((*UNFINISHED, MessageStatus.PENDING, MessageStatus.FALLBACK))
    return {"created_at": {"$lt": cutoff}, "status": {"$nin": keep}}


@dataclass
class Activity:
    """Counts over a window of messages (MessageRepository.activity_since)."""

    received: int = 0
    sent: int = 0
    contacts: int = 0
    failed: int = 0
    fallbacks: int = 0
    stale: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
