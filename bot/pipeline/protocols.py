"""What the pipeline needs from WhatsApp, as a Protocol, so its pieces can be tested without a browser."""

from __future__ import annotations

from typing import Protocol

from bot.whatsapp.events import DownloadedMedia


class ChatActions(Protocol):
    async def send_text(self, chat_id: str, text: str, *, message_id: str, maybe_sent: bool = False) -> str:
        """Send a text with the id the bot chose for it; returns WhatsApp's id. With `maybe_sent`, a message
        already in the chat with that id is not sent again."""
        ...

    async def find_sent(self, chat_id: str, message_id: str) -> str | None:
        """WhatsApp's id of the message sent with `message_id`, or None if it never went out."""
        ...

    async def mark_read(self, chat_id: str, *, answered: str) -> bool:
        """Mark the chat read if `answered` is the newest message the contact is waiting on; True if it did."""
        ...

    async def set_typing(self, chat_id: str) -> None: ...

    async def download_media(self, message_wa_id: str, *, max_bytes: int) -> DownloadedMedia | None:
        """The file of a media message, or None when there is none or it is larger than `max_bytes`."""
        ...
