"""Ingester: files become stored chunks, embedded when Gemini can, stored anyway when it cannot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.ai.embeddings import Embedder
from bot.knowledge import Ingester
from bot.simulator.client import SimulatorClient
from bot.storage import Database

Calls = Callable[[], list[dict[str, Any]]]


async def test_a_file_is_chunked_embedded_and_stored(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path, embed_calls: Calls
) -> None:
    lines: list[str] = []
    added = await Ingester(db, "assistant", make_embedder(), progress=lines.append).add(demo_knowledge)
    assert added.embedded and added.error is None and added.chunks == 6
    assert lines == ["knowledge.md: read, 6 chunks", "knowledge.md: embedded (gemini-embedding-001), stored"]
    stored = await db.knowledge.chunks("assistant")
    assert [chunk.position for chunk in stored] == list(range(6))
    assert {chunk.embedding_model for chunk in stored} == {"gemini-embedding-001"}
    assert {chunk.source for chunk in stored} == {"knowledge.md"}
    # The heading is embedded with its text, so a chunk is found by what its section is called.
    [call] = embed_calls()
    assert call["contents"][1]["text"].startswith("Office hours\nThe studio is open Monday to Friday")


async def test_adding_the_same_file_again_costs_nothing(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path, embed_calls: Calls
) -> None:
    ingester = Ingester(db, "assistant", make_embedder())
    await ingester.add(demo_knowledge)
    ids = [chunk.id for chunk in await db.knowledge.chunks("assistant")]
    lines: list[str] = []
    again = await Ingester(db, "assistant", make_embedder(), progress=lines.append).add(demo_knowledge)
    assert again.unchanged and lines[-1] == "knowledge.md: unchanged (already in the knowledge base)"
    assert len(embed_calls()) == 1
    assert [chunk.id for chunk in await db.knowledge.chunks("assistant")] == ids


async def test_without_an_embedder_chunks_are_stored_plain_and_embedded_on_a_later_add(
    db: Database, make_embedder: Callable[..., Embedder], demo_knowledge: Path
) -> None:
    lines: list[str] = []
    added = await Ingester(db, "assistant", None, progress=lines.append).add(demo_knowledge)
    assert not added.embedded and added.no_embeddings == "GEMINI_API_KEY not set"
    assert lines[-1] == "knowledge.md: stored; no embeddings: GEMINI_API_KEY not set - lexical search will be used"
    assert not any(chunk.embedding for chunk in await db.knowledge.chunks("assistant"))
    later = await Ingester(db, "assistant", make_embedder()).add(demo_knowledge)
    assert later.embedded and not later.unchanged
    assert all(chunk.embedding for chunk in await db.knowledge.chunks("assistant"))


async def test_a_failing_model_stores_plain_chunks_and_is_not_asked_again(
    db: Database,
    sim: SimulatorClient,
    make_embedder: Callable[..., Embedder],
    demo_knowledge: Path,
    tmp_path: Path,
    embed_calls: Calls,
) -> None:
    other = tmp_path / "faq.txt"
    other.write_text("Do you design gardens? Yes, together with a landscape architect.\n")
    await sim.gemini_behaviour(fail_next=5, status=404)
    lines: list[str] = []
    ingester = Ingester(db, "assistant", make_embedder(), progress=lines.append)
    first, second = await ingester.add(demo_knowledge), await ingester.add(other)
    assert not first.embedded and not second.embedded
    assert first.no_embeddings == "model unavailable (HTTP 404 NOT_FOUND)"
    assert lines[-1] == (
        "faq.txt: stored; no embeddings: model unavailable (HTTP 404 NOT_FOUND) - lexical search will be used"
    )
    assert len(embed_calls()) == 1
    assert len(await db.knowledge.chunks("assistant")) == 7


async def test_an_unreadable_file_stores_nothing(db: Database, tmp_path: Path) -> None:
    lines: list[str] = []
    ingester = Ingester(db, "assistant", None, progress=lines.append)
    (tmp_path / "empty.md").write_text("\n")
    (tmp_path / "titles.md").write_text("# One\n\n## Two\n")
    for name in ("empty.md", "titles.md", "missing.pdf"):
        assert (await ingester.add(tmp_path / name)).error is not None
    assert lines == [
        "empty.md: cannot be read: empty; nothing of it was stored",
        "titles.md: cannot be read: only headings, no text under them; nothing of it was stored",
        "missing.pdf: cannot be read: no such file; nothing of it was stored",
    ]
    assert await db.knowledge.documents() == []
