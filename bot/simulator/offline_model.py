"""The fake Gemini's "model": a short, deterministic reply that quotes the person, so demos answer their words."""

from __future__ import annotations

import re
from typing import Any

QUOTE_MAX_CHARS = 160
MARKER = "offline demo model"


def offline_reply(last_user_text: str) -> str:
    """A friendly answer that quotes the last user message and says plainly that no real AI wrote it."""
    quote = re.sub(r"\s+", " ", last_user_text).strip()
    if not quote:
        return f"Hello! I am the {MARKER}: no real AI is connected, but I am listening."
    if len(quote) > QUOTE_MAX_CHARS:
        quote = quote[: QUOTE_MAX_CHARS - 3].rstrip() + "..."
    return f'Thanks for your message! You said: "{quote}". (Reply from the {MARKER}; no real AI is connected.)'


def fill_schema(schema: Any, text: str) -> Any:
    """A value matching a JSON/Gemini response schema, with the reply text in the first string field.

    Used when the caller asks for application/json, so structured-output code paths work offline too.
    """
    filled, _ = _fill(schema if isinstance(schema, dict) else {}, text, used=False)
    return filled


def _fill(schema: dict[str, Any], text: str, *, used: bool) -> tuple[Any, bool]:
    if schema.get("enum"):
        return schema["enum"][0], used
    kind = schema.get("type")
    kind = (kind[0] if isinstance(kind, list) and kind else kind or "object").lower()
    if kind == "object":
        properties = schema.get("properties") or ({"reply": {"type": "string"}} if not schema else {})
        result = {}
        for name, sub in properties.items():
            result[name], used = _fill(sub if isinstance(sub, dict) else {}, text, used=used)
        return result, used
    if kind == "string":
        return ("" if used else text), True
    if kind in ("number", "integer"):
        return 0, used
    if kind == "boolean":
        return False, used
    if kind == "array":
        return [], used
    return None, used
