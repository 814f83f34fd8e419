"""Escalation keywords: whole words, any case, any accents."""

from __future__ import annotations

import pytest

from bot.context.escalation import escalation_keyword

KEYWORDS = ["refund", "speak to a human", "réclamation"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("I want a REFUND now", "refund"),
        ("Can I speak   to a human?", "speak to a human"),
        ("je fais une reclamation", "réclamation"),
        ("RÉCLAMATION!", "réclamation"),
        ("refunds are handled how?", None),  # not the whole word
        ("prefund", None),
        ("speak to a humanoid", None),
        ("", None),
    ],
)
def test_keywords_match_whole_words_in_any_case(text: str, found: str | None) -> None:
    assert escalation_keyword(text, KEYWORDS) == found


def test_blank_keywords_match_nothing() -> None:
    assert escalation_keyword("anything at all", ["", "   "]) is None
