"""Word search (BM25), the fallback when there are no embeddings."""

from __future__ import annotations

from bot.knowledge.lexical import LexicalIndex, terms

CHUNKS = [
    "Office hours\nThe studio is open Monday to Friday, 9:00 to 18:00.",
    "Rates\nA first consultation costs 90 euros; a site visit costs 150 euros.",
    "Office address\nThe studio is at Calle del Prado 24, Madrid.",
]


def test_terms_drop_filler_words_and_fold_endings() -> None:
    assert terms("When are you OPENING? Opens at 9") == ["open", "open", "9"]
    assert terms("hi, thanks!") == []
    assert terms("studies consultations") == ["study", "consultation"]


def test_the_chunk_sharing_the_rare_words_wins() -> None:
    index = LexicalIndex(CHUNKS)
    assert [position for position, _ in index.search("when are you open?", 3)] == [0]
    assert index.search("how much does a consultation cost", 3)[0][0] == 1
    assert index.search("what is the studio address", 3)[0][0] == 2


def test_a_greeting_or_unknown_words_find_nothing() -> None:
    index = LexicalIndex(CHUNKS)
    assert index.search("hi! how are you?", 3) == []
    assert index.search("quantum chromodynamics", 3) == []
    assert LexicalIndex([]).search("open", 3) == []


def test_weak_matches_next_to_a_strong_one_are_dropped_and_the_limit_holds() -> None:
    index = LexicalIndex([*CHUNKS, "Parking\nNo parking at the studio; park at Plaza de Santa Ana."])
    # Three chunks mention the studio, but next to the one about parking they are noise.
    assert [position for position, _ in index.search("parking near the studio", 3)] == [3]
    assert len(index.search("studio", 3)) == 3
    assert len(index.search("studio", 2)) == 2
