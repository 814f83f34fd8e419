"""Retriever: the relevant chunks for a message, by embeddings through the real SDK and the fake Gemini, or by
words when there are none; cached per persona; never failing a reply for AI trouble."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.ai.embeddings import Embedder
from bot.knowledge import Ingester, Retriever
from bot.simulator.client import SimulatorClient
from bot.storage import Database

Calls = Callable[[], list[dict[str, Any]]]


async def add(db: Database, path: Path, embedder: Embedder | None, persona: str = "assistant") -> None:
    added = await Ingester(db, persona, embedder).add(path)
    assert added.error is None


def headings(chunks: list[Any]) -> list[str | None]:
    return [chunk.heading for chunk in chunks]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When are you open?", "Office hours"),
        ("Is the studio open on Saturday?", "Office hours"),
        ("How much is a first consultation?", "Rates for a first consultation"),
        ("What's the address of the office?", "Office address"),
        ("Can I book a meeting with Maria next week?", "Booking a meeting"),
        ("Is Maria away in August?", "Travel dates"),
    ],
)
async def test_a_question_retrieves_its_chunk_by_embeddings(
    db: Database,
    make_embedder: Callable[..., Embedder],
    demo_knowledge: Path,
    embed_calls: Calls,
    question: str,
    expected: str,
) -> None:
    embedder = make_embedder()
    await add(db, demo_knowledge, embedder)
    assert all(chunk.embedding for chunk in await db.knowledge.chunks("assistant"))
    calls_before = len(embed_calls())
    found = await Retriever(db, embedder, k=3, min_score=0.6).relevant("assistant", question)
    assert found and found[0].heading == expected
    assert found[0].embedding is None  # the prompt gets text, not vectors
    assert len(embed_calls()) == calls_before + 1  # one call: the question


async def test_a_greeting_retrieves_nothing(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path
) -> None:
    embedder = make_embedder()
    await add(db, demo_knowledge, embedder)
    retriever = Retriever(db, embedder, k=3, min_score=0.6)
    for greeting in ("Hi!", "hello, how are you?", "thanks a lot", "   "):
        assert await retriever.relevant("assistant", greeting) == []


async def test_k_bounds_the_chunks(db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path) -> None:
    embedder = make_embedder()
    await add(db, demo_knowledge, embedder)
    question = "When is the office open, and where is it?"
    assert len(await Retriever(db, embedder, k=1, min_score=0.0).relevant("assistant", question)) == 1
    assert headings(await Retriever(db, embedder, k=2, min_score=0.0).relevant("assistant", question)) == [
        "Office hours",
        "Office address",
    ]
    assert await Retriever(db, embedder, k=0).relevant("assistant", question) == []


async def test_when_gemini_fails_words_are_searched(
    db: Database, sim: SimulatorClient, make_embedder: Callable[..., Embedder], demo_knowledge: Path, embed_calls: Calls
) -> None:
    embedder = make_embedder()
    await add(db, demo_knowledge, embedder)
    retriever = Retriever(db, embedder)
    await sim.gemini_behaviour(fail_next=1, status=503)
    calls_before = len(embed_calls())
    assert headings(await retriever.relevant("assistant", "When are you open?"))[:1] == ["Office hours"]
    assert len(embed_calls()) == calls_before + 1  # tried once, then words
    assert await retriever.relevant("assistant", "hi!") == []


async def test_a_hung_gemini_costs_only_the_timeout(
    db: Database, sim: SimulatorClient, make_embedder: Callable[..., Embedder], demo_knowledge: Path
) -> None:
    await add(db, demo_knowledge, make_embedder())
    await sim.gemini_behaviour(hang_next=1)
    retriever = Retriever(db, make_embedder(embedding_timeout_s=0.3))
    assert headings(await retriever.relevant("assistant", "How much is a first consultation?"))[:1] == [
        "Rates for a first consultation"
    ]


async def test_chunks_stored_without_embeddings_are_searched_by_words_without_a_call(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path, embed_calls: Calls
) -> None:
    await add(db, demo_knowledge, None)
    for embedder in (make_embedder(), None):
        found = await Retriever(db, embedder).relevant("assistant", "what are your rates for a consultation?")
        assert found[0].heading == "Rates for a first consultation"
    assert embed_calls() == []


async def test_embedded_and_plain_documents_together(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path, tmp_path: Path
) -> None:
    embedder = make_embedder()
    await add(db, demo_knowledge, embedder)
    parking = tmp_path / "parking.md"
    parking.write_text("# Parking\n\nVisitors park for free in the Plaza de Santa Ana car park with a ticket.\n")
    await add(db, parking, None)
    retriever = Retriever(db, embedder)
    assert "Parking" in headings(await retriever.relevant("assistant", "Where can visitors park?"))
    assert headings(await retriever.relevant("assistant", "When are you open?"))[0] == "Office hours"


async def test_a_persona_without_knowledge_costs_no_call(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path, embed_calls: Calls
) -> None:
    embedder = make_embedder()
    await add(db, demo_knowledge, embedder, persona="assistant")
    calls_before = len(embed_calls())
    assert await Retriever(db, embedder).relevant("support", "When are you open?") == []
    assert len(embed_calls()) == calls_before


async def test_chunks_are_cached_for_a_while(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = make_embedder()
    reads: list[str] = []
    read_chunks = db.knowledge.chunks

    async def counting(persona: str) -> Any:
        reads.append(persona)
        return await read_chunks(persona)

    monkeypatch.setattr(db.knowledge, "chunks", counting)
    now = [1000.0]
    retriever = Retriever(db, embedder, cache_s=60.0, clock=lambda: now[0])
    assert await retriever.relevant("assistant", "When are you open?") == []
    await add(db, demo_knowledge, embedder)
    now[0] += 59.0
    assert await retriever.relevant("assistant", "When are you open?") == []  # still the cached (empty) knowledge
    assert reads == ["assistant"]
    now[0] += 2.0
    assert headings(await retriever.relevant("assistant", "When are you open?"))[0] == "Office hours"
    assert reads == ["assistant", "assistant"]
    retriever.invalidate("assistant")
    await retriever.relevant("assistant", "When are you open?")
    assert len(reads) == 3
