"""Conversation memory: older turns folded into the thread's summary, in the background, and used in prompts."""

from __future__ import annotations

from datetime import timedelta

from bot.pipeline import ConversationWorker, Outbox
from bot.pipeline.context import ContextRules, ContextSource
from bot.pipeline.memory import Memory, transcript
from bot.storage import Database, Direction, Message, MessageStatus

from .conftest import EchoResponder, RecordingChat
from .test_conversation import receive

WAIT_S = 5.0


def make(
    db: Database, responder: EchoResponder, chat: RecordingChat, *, history: int, batch: int, gap: timedelta
) -> tuple[ConversationWorker, Memory]:
    memory = Memory(db, responder, history_limit=history, batch=batch)
    worker = ConversationWorker(
        db,
        responder,
        Outbox(db, chat),
        chat,
        context=ContextSource(db, rules=ContextRules(history_limit=history, thread_idle_gap=gap)),
        default_persona="default",
        max_age=timedelta(hours=12),
        memory=memory,
    )
    return worker, memory


async def talk(db: Database, worker: ConversationWorker, memory: Memory, texts: list[str]) -> None:
    for index, text in enumerate(texts):
        await receive(db, f"wa-{text}-{index}", "ana@c.us", text)
        await worker("ana@c.us")
        assert await memory.wait(WAIT_S)


async def test_turns_beyond_the_verbatim_window_are_folded_in_batches(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    worker, memory = make(db, responder, chat, history=4, batch=3, gap=timedelta(hours=1))
    await talk(db, worker, memory, [f"m{n}" for n in range(6)])
    thread = await db.threads.latest("ana@c.us")
    assert thread is not None and thread.summary is not None
    # 12 messages said (6 in, 6 out), 4 kept verbatim: 8 folded, in batches of at least 3.
    assert thread.summarized_count == 8
    assert "Contact: m0" in thread.summary and "You: echo:" in thread.summary
    assert "m5" not in thread.summary
    # The next prompt has the summary as quoted data and only what it does not cover verbatim.
    await receive(db, "wa-next", "ana@c.us", "next")
    await worker("ana@c.us")
    prompt = responder.prompts[-1]
    first_user = next(turn.text for turn in prompt.turns if turn.role == "user")
    assert "earlier_in_this_conversation" in first_user and "Contact: m0" in first_user
    verbatim = [turn.text for turn in prompt.turns]
    assert not any(text.endswith("m0") for text in verbatim)
    assert any("m5" in text for text in verbatim)


async def test_a_thread_that_ended_is_folded_whole_and_shown_as_an_earlier_conversation(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    worker, memory = make(db, responder, chat, history=20, batch=50, gap=timedelta(0))
    await talk(db, worker, memory, ["first visit"])
    await talk(db, worker, memory, ["second visit"])  # every turn starts a new thread (gap 0)
    first = await db.threads.earlier("ana@c.us", before=(await db.threads.latest("ana@c.us")).started_at, limit=5)  # type: ignore[union-attr]
    assert len(first) == 1 and first[0].summary is not None and "first visit" in first[0].summary
    await talk(db, worker, memory, ["third visit"])
    prompt = responder.prompts[-1]
    assert "earlier_conversations" in prompt.turns[0].text
    # Summarised turns are not repeated verbatim.
    assert not any(turn.text == "first visit" for turn in prompt.turns)


async def test_no_summary_while_the_model_fails_and_the_turns_stay_verbatim(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    worker, memory = make(db, responder, chat, history=2, batch=1, gap=timedelta(hours=1))
    await talk(db, worker, memory, ["a", "b"])
    responder.fallback = True
    thread = await db.threads.latest("ana@c.us")
    assert thread is not None
    before = thread.summarized_count
    assert not await memory.fold(thread)
    assert (await db.threads.get(thread.id)).summarized_count == before  # type: ignore[union-attr]


def test_the_transcript_names_who_spoke() -> None:
    said = [
        Message(contact_id="a", direction=Direction.INBOUND, status=MessageStatus.SENT, text="hi\r\nthere"),
        Message(contact_id="a", direction=Direction.OUTBOUND, status=MessageStatus.SENT, text="hello"),
    ]
    assert transcript(said) == "Contact: hi\nthere\nYou: hello"
