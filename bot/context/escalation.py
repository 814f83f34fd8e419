"""Escalation: some messages are for the human, not the bot (a complaint, an emergency, "let me talk to a person").

A persona names the words that hand a chat over; the model can also flag a message (ModelAnswer.needs_human).
Either way the contact gets the persona's holding reply, the operator an alert, and the bot leaves the contact
alone until the operator resumes it (`/resume`, `contacts set --auto-reply on`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

# A pause with no end: only the operator ends it.
UNTIL_RESUMED = datetime(9999, 12, 31, tzinfo=UTC)
ESCALATED_REASON = "handed to the operator (escalation)"


def _folded(text: str) -> str:
    """Lower case without accents, so "Réclamation" matches the keyword "reclamation"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def escalation_keyword(text: str, keywords: Iterable[str]) -> str | None:
    """The first keyword found in `text` as whole words (case and accents ignored), or None."""
    folded = _folded(text)
    for keyword in keywords:
        words = _folded(keyword).split()
        if not words:
            continue
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(word) for word in words) + r"(?!\w)"
        if re.search(pattern, folded):
            return keyword
    return None
