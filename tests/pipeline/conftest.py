"""Small stand-ins for the pipeline's neighbours (the browser and the model); the database is real code."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.ai import Prompt, Reply
from bot.errors import WhatsAppError
from bot.whatsapp.events import DownloadedMedia


@dataclass
class RecordingChat:
    """A chat that records what the pipeline asked WhatsApp to do, keeps what was sent by the id the bot chose
    (as WhatsApp does), and can be told to refuse sending. `media` holds the files it downloads, by WhatsApp
    message id; `fail_downloading` makes downloads fail as a broken page would."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    by_id: dict[str, str] = field(default_factory=dict)
    read: list[tuple[str, str]] = field(default_factory=list)
    typing: list[str] = field(default_factory=list)
    fail_sending: bool = False
    media: dict[str, DownloadedMedia] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    fail_downloading: bool = False

    async def send_text(self, chat_id: str, text: str, *, message_id: str, maybe_sent: bool = False) -> str:
        key = f"true_{chat_id}_{message_id}"
        if maybe_sent and key in self.by_id:
            return key
        if self.fail_sending:
            raise WhatsAppError("cannot send a message: WhatsApp is disconnected")
        self.sent.append((chat_id, text))
        self.by_id[key] = text
        return key

    async def find_sent(self, chat_id: str, message_id: str) -> str | None:
        key = f"true_{chat_id}_{message_id}"
        return key if key in self.by_id else None

    async def mark_read(self, chat_id: str, *, answered: str) -> bool:
        self.read.append((chat_id, answered))
        return True

    async def set_typing(self, chat_id: str) -> None:
        self.typing.append(chat_id)

    def give_media(self, wa_id: str, data: bytes, mime_type: str = "image/png") -> None:
        """The file WhatsApp holds for message `wa_id`."""
        self.media[wa_id] = DownloadedMedia(mime_type=mime_type, data=data)

    async def download_media(self, message_wa_id: str, *, max_bytes: int) -> DownloadedMedia | None:
        self.downloads.append(message_wa_id)
        if self.fail_downloading:
            raise WhatsAppError("cannot download media: the page did not answer within 30 s")
        media = self.media.get(message_wa_id)
        return media if media is not None and media.size <= max_bytes else None


@dataclass
class EchoResponder:
    """Answers with the last user turn, and keeps every prompt it was given."""

    prompts: list[Prompt] = field(default_factory=list)
    summaries: list[tuple[str | None, str]] = field(default_factory=list)
    fallback: bool = False

    async def reply(self, prompt: Prompt) -> Reply:
        self.prompts.append(prompt)
        if self.fallback:
            return Reply("sorry, later", is_fallback=True, attempts=3, error="HTTP 503 UNAVAILABLE")
        return Reply(f"echo: {prompt.turns[-1].text}")

    async def summarize(self, earlier_summary: str | None, conversation: str) -> str | None:
        self.summaries.append((earlier_summary, conversation))
        if self.fallback:
            return None
        return f"{earlier_summary or ''} | {conversation}".strip(" |")

    async def close(self) -> None:
        return None


@pytest.fixture
def chat() -> RecordingChat:
    return RecordingChat()


@pytest.fixture
def responder() -> EchoResponder:
    return EchoResponder()
