"""Gathering what one reply needs to know: the contact's thread and the summaries of earlier ones, the turns
to quote verbatim, the operator's knowledge for this question, the time where the operator is, and the images
the contact sent. Everything read here belongs to the one contact being answered (and their persona's
knowledge); the prompt builder (bot/ai/prompt.py) turns it into a prompt.

The reads that do not depend on each other run concurrently, so gathering costs about two database round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from loguru import logger

from bot.ai.prompt import EarlierThread, Media, PromptContext
from bot.context.situation import WorkingHours, situation_at
from bot.errors import WhatsAppError
from bot.storage import Contact, Database, Message, Persona, utc_now
from bot.storage.models import KnowledgeChunk, Thread
from bot.whatsapp.events import DownloadedMedia


class KnowledgeSource(Protocol):
    async def relevant(self, persona: str, query: str) -> list[KnowledgeChunk]: ...


class MediaSource(Protocol):
    async def download_media(self, message_wa_id: str, *, max_bytes: int) -> DownloadedMedia | None: ...


# What the model can look at; other attachments are named in the prompt by their tag only.
VISIBLE_KINDS = frozenset({"image"})


@dataclass(frozen=True, slots=True)
class ContextRules:
    history_limit: int = 20
    thread_idle_gap: timedelta = timedelta(minutes=30)
    earlier_threads: int = 3
    timezone: str = "UTC"
    working_hours: WorkingHours | None = None
    media_max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Gathered:
    context: PromptContext
    thread: Thread
    # The thread before this one, when this turn started a new one: its last turns are still to be summarised.
    ended: Thread | None


class ContextSource:
    def __init__(
        self,
        db: Database,
        *,
        rules: ContextRules,
        knowledge: KnowledgeSource | None = None,
        media: MediaSource | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._rules = rules
        self._knowledge = knowledge
        self._media = media
        self._clock = clock

    async def gather(self, contact: Contact, persona: Persona, turn: list[Message]) -> Gathered:
        rules = self._rules
        at = turn[0].created_at
        # All at once. Threads before the current one all ended more than an idle gap before this turn (that is
        # what split them off), and the current one did not: so the earlier ones are known without it.
        (thread, ended), earlier, history, knowledge, media = await asyncio.gather(
            self._db.threads.current(contact.id, at, rules.thread_idle_gap),
            self._db.threads.earlier(contact.id, before=at - rules.thread_idle_gap, limit=rules.earlier_threads),
            self._db.messages.history(turn[0], limit=rules.history_limit),
            self._relevant(persona, turn),
            self._images(turn),
        )
        is_new = thread.turns == 1
        # Turns a summary already covers are not repeated verbatim.
        covered = max((t.summarized_until for t in (thread, *earlier[:1]) if t.summarized_until), default=None)
        if covered is not None:
            history = [message for message in history if message.created_at > covered]
        first_contact = is_new and ended is None and not earlier and not history
        context = PromptContext(
            persona=persona,
            contact=contact,
            history=history,
            turn=turn,
            situation=situation_at(self._clock(), timezone=rules.timezone, working_hours=rules.working_hours),
            thread_summary=thread.summary,
            earlier_threads=[
                EarlierThread(started_at=t.started_at, summary=t.summary) for t in reversed(earlier) if t.summary
            ],
            knowledge=knowledge,
            media=media,
            first_contact=first_contact,
        )
        return Gathered(context=context, thread=thread, ended=ended)

    async def _relevant(self, persona: Persona, turn: list[Message]) -> list[KnowledgeChunk]:
        if self._knowledge is None:
            return []
        query = "\n".join(message.text for message in turn if message.text.strip())
        if not query:
            return []
        return await self._knowledge.relevant(persona.id, query)

    async def _images(self, turn: list[Message]) -> dict[str, Media]:
        if self._media is None:
            return {}
        wanted = [message for message in turn if message.kind in VISIBLE_KINDS and message.wa_id]
        found = await asyncio.gather(*(self._image(message) for message in wanted))
        return {message.id: media for message, media in zip(wanted, found, strict=True) if media is not None}

    async def _image(self, message: Message) -> Media | None:
        assert self._media is not None and message.wa_id is not None
        try:
            downloaded = await self._media.download_media(message.wa_id, max_bytes=self._rules.media_max_bytes)
        except WhatsAppError as error:
            logger.info(
                "message {}: the image could not be downloaded ({}); answered from its caption", message.id, error
            )
            return None
        if downloaded is None:
            return None
        return Media(mime_type=downloaded.mime_type, data=downloaded.data)
