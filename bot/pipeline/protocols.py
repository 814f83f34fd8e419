"""What the pipeline needs from WhatsApp, as a Protocol, so its pieces can be tested without a browser."""

from __future__ import annotations

from typing import Protocol


class ChatActions(Protocol):
    async def send_text(self, chat_id: str, text: str) -> str:
        """Send a text; returns WhatsApp's message id."""
        ...

    async def mark_read(self, chat_id: str, *, answered: str) -> bool:
        """Mark the chat read if `answered` is the newest message the contact is waiting on; True if it did."""
        ...

    async def set_typing(self, chat_id: str) -> None: ...
