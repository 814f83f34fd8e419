"""Small stand-ins for the pipeline's neighbours (the browser and the model); the database is real code."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from bot.ai import Prompt, Reply
from bot.errors import WhatsAppError


@dataclass
class RecordingChat:
    """Records what the pipeline asked WhatsApp to do; can be told to fail sending."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    read: list[tuple[str, str]] = field(default_factory=list)
    typing: list[str] = field(default_factory=list)
    fail_sending: bool = False
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send_text(self, chat_id: str, text: str) -> str:
        if self.fail_sending:
            raise WhatsAppError("cannot send a message: WhatsApp is disconnected")
        self.sent.append((chat_id, text))
        return f"true_{chat_id}_SENT{next(self._ids)}"

    async def mark_read(self, chat_id: str, *, answered: str) -> bool:
        self.read.append((chat_id, answered))
        return True

    async def set_typing(self, chat_id: str) -> None:
        self.typing.append(chat_id)


@dataclass
class EchoResponder:
    """Answers with the last user turn, and keeps every prompt it was given."""

    prompts: list[Prompt] = field(default_factory=list)

    async def reply(self, prompt: Prompt) -> Reply:
        self.prompts.append(prompt)
        return Reply(f"echo: {prompt.turns[-1].text}")

    async def close(self) -> None:
        return None


@pytest.fixture
def chat() -> RecordingChat:
    return RecordingChat()


@pytest.fixture
def responder() -> EchoResponder:
    return EchoResponder()
