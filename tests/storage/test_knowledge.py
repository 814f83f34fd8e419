"""KnowledgeRepository: documents replaced as a whole, listed, removed, read back per persona."""

from __future__ import annotations

from bot.storage import Database
from bot.storage.models import KnowledgeChunk


def chunks(
    source: str, document_id: str, texts: list[str], *, persona: str = "assistant", model: str | None = None
) -> list[KnowledgeChunk]:
    return [
        KnowledgeChunk(
            persona=persona,
            source=source,
            document_id=document_id,
            position=position,
            heading=f"H{position}",
            text=text,
            embedding=[1.0, float(position)] if model else None,
            embedding_model=model,
        )
        for position, text in enumerate(texts)
    ]


async def texts(db: Database, persona: str = "assistant") -> list[tuple[str, str]]:
    return [(chunk.source, chunk.text) for chunk in await db.knowledge.chunks(persona)]


async def test_a_document_is_stored_and_read_back_in_order(db: Database) -> None:
    assert await db.knowledge.replace_document("assistant", "b.md", "b1", chunks("b.md", "b1", ["b0", "b1"]))
    assert await db.knowledge.replace_document("assistant", "a.md", "a1", chunks("a.md", "a1", ["a0", "a1", "a2"]))
    stored = await db.knowledge.chunks("assistant")
    assert [(c.source, c.position, c.text) for c in stored] == [
        ("a.md", 0, "a0"),
        ("a.md", 1, "a1"),
        ("a.md", 2, "a2"),
        ("b.md", 0, "b0"),
        ("b.md", 1, "b1"),
    ]
    assert await db.knowledge.chunks("support") == []


async def test_a_new_version_replaces_the_old_and_the_same_content_changes_nothing(db: Database) -> None:
    await db.knowledge.replace_document("assistant", "a.md", "v1", chunks("a.md", "v1", ["old0", "old1"]))
    first_ids = [chunk.id for chunk in await db.knowledge.chunks("assistant")]
    assert not await db.knowledge.replace_document("assistant", "a.md", "v1", chunks("a.md", "v1", ["old0", "old1"]))
    assert [chunk.id for chunk in await db.knowledge.chunks("assistant")] == first_ids
    assert await db.knowledge.replace_document("assistant", "a.md", "v2", chunks("a.md", "v2", ["new0"]))
    assert await texts(db) == [("a.md", "new0")]


async def test_the_same_content_under_a_new_name_moves(db: Database) -> None:
    await db.knowledge.replace_document("assistant", "old.md", "d1", chunks("old.md", "d1", ["x"]))
    assert await db.knowledge.replace_document("assistant", "new.md", "d1", chunks("new.md", "d1", ["x"]))
    assert await texts(db) == [("new.md", "x")]


async def test_embeddings_are_added_never_lost(db: Database) -> None:
    plain = chunks("a.md", "d1", ["x", "y"])
    embedded = chunks("a.md", "d1", ["x", "y"], model="m1")
    await db.knowledge.replace_document("assistant", "a.md", "d1", plain)
    assert not await db.knowledge.is_current("assistant", "a.md", "d1", "m1")
    assert await db.knowledge.is_current("assistant", "a.md", "d1", None)
    assert await db.knowledge.replace_document("assistant", "a.md", "d1", embedded)
    assert await db.knowledge.is_current("assistant", "a.md", "d1", "m1")
    # Embedding failed this time: the stored embeddings stay.
    assert not await db.knowledge.replace_document("assistant", "a.md", "d1", plain)
    assert all(chunk.embedding for chunk in await db.knowledge.chunks("assistant"))
    # Another model: embedded again.
    assert not await db.knowledge.is_current("assistant", "a.md", "d1", "m2")
    assert await db.knowledge.replace_document("assistant", "a.md", "d1", chunks("a.md", "d1", ["x", "y"], model="m2"))
    assert {chunk.embedding_model for chunk in await db.knowledge.chunks("assistant")} == {"m2"}


async def test_documents_are_listed_per_persona(db: Database) -> None:
    await db.knowledge.replace_document("assistant", "a.md", "aaaa1111", chunks("a.md", "aaaa1111", ["1", "2"]))
    await db.knowledge.replace_document(
        "support", "faq.pdf", "bbbb2222", chunks("faq.pdf", "bbbb2222", ["q"], persona="support", model="m")
    )
    everything = await db.knowledge.documents()
    assert [(d.persona, d.source, d.document_id, d.chunks, d.embedded) for d in everything] == [
        ("assistant", "a.md", "aaaa1111", 2, False),
        ("support", "faq.pdf", "bbbb2222", 1, True),
    ]
    assert everything[1].embedding_model == "m" and everything[0].added_at.tzinfo is not None
    assert [d.source for d in await db.knowledge.documents("support")] == ["faq.pdf"]
    assert await db.knowledge.documents("nobody") == []


async def test_remove_by_name_or_id_prefix_and_persona(db: Database) -> None:
    await db.knowledge.replace_document("assistant", "a.md", "abcdef123456", chunks("a.md", "abcdef123456", ["1", "2"]))
    await db.knowledge.replace_document(
        "support", "a.md", "abcdef123456", chunks("a.md", "abcdef123456", ["1"], persona="support")
    )
    await db.knowledge.replace_document("assistant", "b.md", "99999999", chunks("b.md", "99999999", ["3"]))
    assert await db.knowledge.remove("a.md", persona="support") == 1
    assert await db.knowledge.remove("abc", persona="assistant") == 0  # too short for an id
    assert await db.knowledge.remove("abcdef", persona="assistant") == 2
    assert await db.knowledge.remove("nothing.md") == 0
    assert await db.knowledge.remove(".*") == 0
    assert await texts(db) == [("b.md", "3")]
    assert await db.knowledge.remove("b.md") == 1
