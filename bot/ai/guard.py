"""A last check on a reply before it is sent: does it give away the system instruction?

The prompt tells the model never to reveal its instructions, and keeps contact-written text out of them; this
catches the model obeying a clever request anyway. A reply that repeats a long enough run of the instruction's
words, word for word, is taken for a leak, and the bot sends a safe answer instead. Sections written to be told
to people (the business, the time, the knowledge: PUBLIC_SECTIONS) are not protected, so quoting the opening
hours is not a leak, and neither is the bot introducing itself by its name and role.
"""

from __future__ import annotations

import re

from bot.ai.prompt import PUBLIC_SECTIONS, WHO_YOU_ARE

_WORD = re.compile(r"\w+")
_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)


def _words(text: str) -> list[str]:
    """Words only, case folded: punctuation, whitespace and line breaks do not hide a copy."""
    return _WORD.findall(text.casefold())


def protected_text(system_instruction: str) -> str:
    """The parts of the system instruction a reply must not repeat: all of it but the public sections."""
    parts = _SECTION.split(system_instruction)
    # split gives [before the first title, title, body, title, body, ...]
    kept = [parts[0]]
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        if title.strip() == WHO_YOU_ARE:
            # Its first line ("You are Sofia, support at Acme Bikes.") is how the bot introduces itself.
            body = body.strip("\n").partition("\n")[2]
        if title.strip() not in PUBLIC_SECTIONS:
            kept.append(body)
    return "\n".join(kept)


def leaks_instructions(reply: str, system_instruction: str, *, min_words: int = 8) -> bool:
    """True when `reply` repeats `min_words` consecutive words of the system instruction's private sections
    (case, punctuation and whitespace ignored). Linear in the two texts' lengths."""
    if min_words < 1:
        raise ValueError("min_words must be at least 1")
    secret = _words(protected_text(system_instruction))
    said = _words(reply)
    if len(said) < min_words or len(secret) < min_words:
        return False
    runs = {tuple(secret[index : index + min_words]) for index in range(len(secret) - min_words + 1)}
    return any(tuple(said[index : index + min_words]) in runs for index in range(len(said) - min_words + 1))
