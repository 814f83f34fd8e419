"""The conversation worker: one turn for one contact, from their stored waiting messages to one sent reply.

It works from the stored states, not from what the queue says, so the same code answers new messages and
resumes a turn cut short by a crash, a stop or a database outage (see bot/storage/messages.py for the states).
A turn takes all of the contact's waiting messages at once, after they stopped typing for a moment (the queue
awaits `ready`), so a burst of fragments gets one reply. Every way it can end leaves a stored state and one log
line with the messages' ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import timedelta

from loguru import logger

from bot.ai import Prompt, Reply, Responder, build_prompt
from bot.ai.guard import leaks_instructions
from bot.context.escalation import ESCALATED_REASON, UNTIL_RESUMED, escalation_keyword
from bot.context.style import learn_style
from bot.errors import WhatsAppError
from bot.ops.metrics import Metrics, ReplyOutcome
from bot.pipeline.context import ContextSource, Gathered
from bot.pipeline.memory import Memory
from bot.pipeline.outbox import Outbox, ids_of
from bot.pipeline.policy import Action, AnswerRules, Decision, MessageFacts, decide
from bot.pipeline.protocols import ChatActions
from bot.pipeline.traffic import Traffic
from bot.storage import Contact, Database, Message, Persona, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth
from bot.storage.models import MessageStatus, ReplyUsage

StaleHandler = Callable[[Message], None]
# The operator is told: the contact, the messages, and why the chat was handed over.
EscalationHandler = Callable[[Contact, list[Message], str], None]
# Sent instead of a reply that repeats the bot's own instructions (a contact talked the model into it).
# Messages a worker took up before and did not finish: their reply may be stored, and may have gone out.
LEFT_UNFINISHED = frozenset({MessageStatus.ANSWERING, MessageStatus.REPLY_PENDING})
GUARDED_REPLY = "Sorry, I can't share that. Is there anything else I can help you with?"


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens, for the cost recorded with each reply."""

    per_mtok_in: float = 0.0
    per_mtok_out: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.per_mtok_in + tokens_out * self.per_mtok_out) / 1_000_000


class ConversationWorker:
    def __init__(
        self,
        db: Database,
        responder: Responder,
        outbox: Outbox,
        chat: ChatActions,
        *,
        context: ContextSource,
        default_persona: str,
        max_age: timedelta,
        rules: AnswerRules | None = None,
        max_message_chars: int = 4000,
        budget_tokens: int = 8000,
        memory: Memory | None = None,
        prices: Prices | None = None,
        on_escalation: EscalationHandler | None = None,
        traffic: Traffic | None = None,
        flood_pause: timedelta = timedelta(minutes=10),
        flood_notice: str = "You are writing faster than I can answer; I'll get back to you in a little while.",
        health: StorageHealth | None = None,
        on_stale: StaleHandler | None = None,
        on_owed: Callable[[], None] | None = None,
        ai_available: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._responder = responder
        self._outbox = outbox
        self._chat = chat
        self._context = context
        self._default_persona = default_persona
        self._max_age = max_age
        self._rules = rules or AnswerRules()
        self._max_message_chars = max_message_chars
        self._budget_tokens = budget_tokens
        self._memory = memory
        self._prices = prices or Prices()
        self._on_escalation = on_escalation
        self._traffic = traffic
        self._flood_pause = flood_pause
        self._flood_notice = flood_notice
        self._health = health
        self._on_stale = on_stale
        self._on_owed = on_owed
        self._ai_available = ai_available
        # Some contact was answered by the fallback and is owed a real answer once the model is back.
        self._owed = False

    async def ready(self, contact_id: str) -> None:
        """Awaited by the queue before the turn takes a slot: the contact stopped typing for a moment."""
        if self._traffic is not None:
            await self._traffic.until_quiet(contact_id)

    def ai_back(self) -> None:
        """The model answers again: every contact answered only by the fallback is owed a real answer."""
        self._owed = False
        if self._on_owed is not None:
            self._on_owed()

    async def __call__(self, contact_id: str) -> None:
        turn: list[Message] = []
        try:
            owed = self._ai_available()
            # Read together, so the turn waits for one round trip instead of two.
            waiting, contact = await asyncio.gather(
                self._db.messages.unfinished(contact_id, owed=owed), self._db.contacts.get(contact_id)
            )
            if any(message.status in LEFT_UNFINISHED for message in waiting):
                await self._resume_cut_short(contact_id)  # after a crash or a stop: rare
                turn = await self._db.messages.take_turn(contact_id, owed=owed)
            else:
                turn = await self._db.messages.claim(waiting)
            if turn:
                with _journey(turn):
                    await self._answer(contact_id, turn, contact)
        except OUTAGE_ERRORS as error:
            # Nothing went out that is not recorded; the turn resumes from its stored state once the database
            # is back (the reconciler queues the contact again).
            if self._health is not None:
                self._health.failed(error)
            logger.warning(
                "message(s) {} of {}: wait for the database ({})", ids_of(turn), contact_id, type(error).__name__
            )
        except Exception as error:
            logger.exception("message(s) {} of {}: answering failed", ids_of(turn), contact_id)
            await self._record_failure(turn, error)

    async def _resume_cut_short(self, contact_id: str) -> None:
        """Turns whose reply was stored before a crash, a stop or an outage: it may have gone out. Never send it
        twice, nor late."""
        for parts, turn in await self._db.messages.cut_short(contact_id):
            with _journey(turn):
                if self._too_old(turn[-1]) and not await self._outbox.went_out(turn, parts):
                    await self._go_stale(turn)
                    continue
                if await self._outbox.send(turn, parts, maybe_sent=True):
                    self._count(ReplyOutcome.FALLBACK if parts[-1].fallback else ReplyOutcome.MODEL)
                    await self._answered(turn, fallback=parts[-1].fallback)

    async def _answer(self, contact_id: str, turn: list[Message], contact: Contact | None) -> None:
        stale = [message for message in turn if self._too_old(message)]
        if stale:
            await self._go_stale(stale)
        turn = [message for message in turn if message not in stale]
        if not turn:
            return
        persona = await self._db.personas.for_reply((contact and contact.persona) or self._default_persona)
        now = utc_now()
        media_reply = persona.instructions.media_reply
        decisions = {
            message.id: decide(MessageFacts.stored(message), contact, self._rules, now, media_reply=media_reply)
            for message in turn
        }
        for reason, skipped in _group(turn, decisions, Action.SKIP).items():
            await self._db.messages.skip(skipped, reason=reason)
            self._count(ReplyOutcome.SKIPPED)
            logger.info("message(s) {}: not answered: {}", ids_of(skipped), reason)
        turn = [message for message in turn if decisions[message.id].action is not Action.SKIP]
        if not turn:
            return
        if self._traffic is not None and self._traffic.flooding(contact_id):
            until = now + self._flood_pause
            await self._db.contacts.pause(contact_id, until, "writing faster than the bot answers")
            logger.warning("{} writes too fast: paused until {:%H:%M}; one notice sent", contact_id, until)
            await self._reply(turn, Reply(self._flood_notice), outcome=ReplyOutcome.POLITE)
            return
        if all(decisions[message.id].action is Action.POLITE for message in turn):
            # Only media the bot cannot read: one fixed, polite answer (each different one once: a voice note
            # and a location), and no model call; not the same again right after it (a burst of voice notes).
            polite = " ".join(dict.fromkeys(decisions[message.id].reply or self._rules.media_reply for message in turn))
            last = await self._db.messages.last_reply(contact_id)
            if last is not None and last.text == polite:
                await self._db.messages.skip(turn, reason="media; the polite answer was just given")
                self._count(ReplyOutcome.SKIPPED)
                return
            await self._reply(turn, Reply(polite), outcome=ReplyOutcome.POLITE)
            return

        contact = contact or Contact(id=contact_id, phone=contact_id.partition("@")[0])
        keywords = persona.instructions.escalation_keywords
        said = next((word for message in turn if (word := escalation_keyword(message.text, keywords))), None)
        if said is not None:
            await self._escalate(contact, persona, turn, f'the message says "{said}"')
            return
        # "typing..." goes out while the model thinks, and is waited for, so it is never shown after the reply.
        # The contact's style is learned meanwhile too (this prompt uses what was known before these messages).
        typing = asyncio.create_task(self._show_typing(contact_id), name=f"pipeline:{contact_id}:typing")
        learning = asyncio.create_task(self._learn_style(contact, turn), name=f"pipeline:{contact_id}:style")
        try:
            gathered = await self._context.gather(contact, persona, turn)
            reply, prompt = await self._generate(gathered)
        except BaseException:
            typing.cancel()
            learning.cancel()
            raise
        await typing
        await learning
        if reply.is_fallback:
            self._owed = True
            # Once per outage: a contact whose last reply was the fallback is not told again.
            last = await self._db.messages.last_reply(contact_id)
            if last is not None and last.fallback:
                await self._db.messages.covered_by_fallback(turn)
                self._count(ReplyOutcome.SKIPPED)
                logger.info("message(s) {}: covered by the fallback {} already has", ids_of(turn), contact_id)
                return
        elif self._owed:
            self.ai_back()
        if reply.needs_human:
            await self._escalate(contact, persona, turn, "the model found it needs a person")
            return
        usage = None if reply.is_fallback else self._usage(reply, persona, gathered.thread.id, prompt)
        if gathered.context.first_contact and persona.greeting and not reply.is_fallback:
            reply = replace(reply, text=f"{persona.greeting.strip()}\n\n{reply.text}")
        await self._reply(turn, reply, usage=usage)
        if self._memory is not None and not reply.is_fallback:
            self._memory.after_reply(gathered.thread, gathered.ended)

    async def _escalate(self, contact: Contact, persona: Persona, turn: list[Message], why: str) -> None:
        """Hand the chat to the operator: the holding reply, the alert, and no more answers until they resume it."""
        await self._db.contacts.pause(contact.id, UNTIL_RESUMED, ESCALATED_REASON)
        logger.warning("message(s) {}: handed to the operator ({})", ids_of(turn), why)
        if self._on_escalation is not None:
            self._on_escalation(contact, turn, why)
        await self._reply(turn, Reply(persona.instructions.escalation_reply), outcome=ReplyOutcome.ESCALATED)

    def _usage(self, reply: Reply, persona: Persona, thread_id: str, prompt: Prompt) -> ReplyUsage:
        return ReplyUsage(
            persona=persona.id,
            model=reply.model or "",
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            latency_s=round(reply.latency_s, 3),
            knowledge=list(prompt.knowledge_ids),
            cost_usd=round(self._prices.cost(reply.tokens_in, reply.tokens_out), 8),
            thread_id=thread_id,
        )

    async def _learn_style(self, contact: Contact, turn: list[Message]) -> None:
        style = contact.style
        for message in turn:
            if message.kind == "chat" and message.text.strip():
                style = learn_style(style, message.text)
        if style is not None and style != contact.style:
            await self._db.contacts.set_style(contact.id, style)

    async def _reply(
        self, turn: list[Message], reply: Reply, *, usage: ReplyUsage | None = None, outcome: ReplyOutcome | None = None
    ) -> None:
        """`outcome` for the metrics; None: the model's reply, or the fallback."""
        parts = await self._outbox.store(turn, reply, usage=usage)
        if await self._outbox.send(turn, parts):
            self._count(outcome or (ReplyOutcome.FALLBACK if reply.is_fallback else ReplyOutcome.MODEL))
            await self._answered(turn, fallback=reply.is_fallback, latency_s=reply.latency_s)

    async def _answered(self, turn: list[Message], *, fallback: bool, latency_s: float | None = None) -> None:
        # Read last, and only up to what was answered: a message that is never answered (crash, outage) stays
        # unread on WhatsApp, where the next start finds it again; the operator's phone does not show it as seen.
        newest = turn[-1]
        if newest.wa_id:
            await self._courtesy(
                self._chat.mark_read(newest.contact_id, answered=newest.wa_id), "mark as read", newest.contact_id
            )
        took = f" in {latency_s:.2f} s" if latency_s is not None else " (resumed)"
        how = " by fallback" if fallback else ""
        logger.info("message(s) {}: answered {}{}{}", ids_of(turn), newest.contact_id, took, how)

    def _too_old(self, message: Message) -> bool:
        written = message.wa_time or message.created_at
        return utc_now() - written > self._max_age

    async def _go_stale(self, messages: list[Message]) -> None:
        hours = self._max_age.total_seconds() / 3600
        await self._db.messages.go_stale(messages, reason=f"older than {hours:g} h when the bot got to it")
        self._count(ReplyOutcome.STALE)
        logger.warning("message(s) {}: too old to answer (stale); left for the operator", ids_of(messages))
        if self._on_stale is not None:
            for message in messages:
                self._on_stale(message)

    async def _generate(self, gathered: Gathered) -> tuple[Reply, Prompt]:
        """One prompt for the whole turn: all its messages are the newest user turn, after the history (which has
        every reply that went out, even one sent after the first of them arrived)."""
        prompt = build_prompt(
            gathered.context, budget_tokens=self._budget_tokens, max_message_chars=self._max_message_chars
        )
        reply = await self._responder.reply(prompt)
        if self._metrics is not None and reply.attempts:
            self._metrics.ai_answered(reply.latency_s)
        if not reply.is_fallback and leaks_instructions(reply.text, prompt.system_instruction):
            logger.warning(
                "message(s) {}: the answer repeated the bot's instructions; not sent", ids_of(gathered.context.turn)
            )
            return replace(reply, text=GUARDED_REPLY, needs_human=False), prompt
        return reply, prompt

    async def _record_failure(self, turn: list[Message], error: Exception) -> None:
        if not turn:
            return
        self._count(ReplyOutcome.FAILED)
        try:
            await self._db.messages.fail(turn, error=f"{type(error).__name__}: {error}")
        except OUTAGE_ERRORS:
            logger.warning("message(s) {}: the failure could not be recorded (database unreachable)", ids_of(turn))

    def _count(self, outcome: ReplyOutcome) -> None:
        if self._metrics is not None:
            self._metrics.turn_ended(outcome)

    async def _show_typing(self, chat_id: str) -> None:
        await self._courtesy(self._chat.set_typing(chat_id), "show typing", chat_id)

    @staticmethod
    async def _courtesy(action: Awaitable[object], what: str, chat_id: str) -> None:
        """Read receipts and typing are nice to have; their failure must not stop or fail the reply."""
        try:
            await action
        except WhatsAppError as error:
            logger.debug("could not {} for {}: {}", what, chat_id, error)


def _journey(turn: list[Message]) -> AbstractContextManager[None]:
    """Tags every log line of a turn (the reply stored, sent, read) with its newest message's id and the turn's
    id, the tags the inbox's lines carry, so one grep follows a message from arrival to reply."""
    newest = turn[-1]
    return logger.contextualize(msg_id=newest.id, turn_id=newest.turn, contact=newest.contact_id)


def _group(messages: list[Message], decisions: dict[str, Decision], action: Action) -> dict[str, list[Message]]:
    """The messages given `action`, by the reason of their decision."""
    grouped: dict[str, list[Message]] = {}
    for message in messages:
        decision = decisions[message.id]
        if decision.action is action:
            grouped.setdefault(decision.reason or action.value, []).append(message)
    return grouped
