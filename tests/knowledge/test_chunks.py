"""Splitting documents into chunks at headings and paragraph ends."""

from __future__ import annotations

from bot.knowledge.chunks import MAX_WORDS, Chunk, split_text
from bot.settings import PROJECT_ROOT


def words(count: int, word: str = "word") -> str:
    return " ".join([word] * count)


def test_each_heading_starts_a_chunk_that_keeps_it() -> None:
    text = "Intro line.\n\n# Studio\n\nWe design houses.\n\n## Office hours\nMonday to Friday.\n\nNot on Sundays."
    assert split_text(text) == [
        Chunk(None, "Intro line."),
        Chunk("Studio", "We design houses."),
        Chunk("Office hours", "Monday to Friday.\n\nNot on Sundays."),
    ]


def test_underlined_headings_rules_and_empty_sections() -> None:
    text = (
        "Rates\n=====\n\n90 euros.\n\n---\n\nPaid by card.\n\n# Nothing here\n\n## Address\nCalle del Prado 24\n\n---"
    )
    assert split_text(text) == [Chunk("Rates", "90 euros.\n\nPaid by card."), Chunk("Address", "Calle del Prado 24")]


def test_a_hash_inside_code_is_not_a_heading() -> None:
    text = "# Setup\n```\n# not a heading\n\nstill code\n```"
    [chunk] = split_text(text)
    assert chunk.heading == "Setup" and "# not a heading\n\nstill code" in chunk.text


def test_a_long_section_is_cut_between_paragraphs() -> None:
    paragraphs = [words(40, f"p{i}") for i in range(10)]
    chunks = split_text("# Long\n\n" + "\n\n".join(paragraphs), max_words=100)
    assert [chunk.text for chunk in chunks] == [
        "\n\n".join(paragraphs[0:2]),
        "\n\n".join(paragraphs[2:4]),
        "\n\n".join(paragraphs[4:6]),
        "\n\n".join(paragraphs[6:8]),
        "\n\n".join(paragraphs[8:10]),
    ]
    assert {chunk.heading for chunk in chunks} == {"Long"}


def test_a_long_paragraph_is_cut_between_sentences_and_an_endless_one_between_words() -> None:
    sentences = [words(30, f"s{i}") + "." for i in range(5)]
    chunks = split_text(" ".join(sentences), max_words=70)
    assert [chunk.text for chunk in chunks] == [" ".join(sentences[0:2]), " ".join(sentences[2:4]), sentences[4]]
    endless = split_text(words(250), max_words=100)
    assert [len(chunk.text.split()) for chunk in endless] == [100, 100, 50]


def test_no_chunk_is_longer_than_the_limit_and_no_word_is_lost() -> None:
    text = "\n\n".join(f"# H{i}\n\n" + words(17 * i + 3, f"w{i}") + ". " + words(90, f"x{i}") for i in range(12))
    chunks = split_text(text, max_words=120)
    assert all(len(chunk.text.split()) <= 120 for chunk in chunks)
    assert sum(len(chunk.text.split()) for chunk in chunks) == sum(
        len(line.split()) for line in text.splitlines() if not line.startswith("#")
    )


def test_searchable_text_includes_the_heading() -> None:
    assert Chunk("Office hours", "9 to 6").searchable == "Office hours\n9 to 6"
    assert Chunk(None, "9 to 6").searchable == "9 to 6"


def test_the_demo_knowledge_is_one_chunk_per_topic() -> None:
    text = (PROJECT_ROOT / "config" / "demo" / "knowledge.md").read_text(encoding="utf-8")
    chunks = split_text(text)
    headings = [chunk.heading for chunk in chunks]
    assert headings[1:] == [
        "Office hours",
        "Office address",
        "Booking a meeting",
        "Travel dates",
        "Rates for a first consultation",
    ]
    assert all(len(chunk.text.split()) <= MAX_WORDS for chunk in chunks)
    assert "Monday to Friday, 9:00 to 18:00" in chunks[1].text
