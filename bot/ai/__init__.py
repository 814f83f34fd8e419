"""Prompt building and the Gemini responder."""

from bot.ai.guard import leaks_instructions
from bot.ai.prompt import EarlierThread, Media, Prompt, PromptContext, Turn, build_prompt, estimate_tokens
from bot.ai.responder import GeminiResponder, Reply, Responder

__all__ = [
    "EarlierThread",
    "GeminiResponder",
    "Media",
    "Prompt",
    "PromptContext",
    "Reply",
    "Responder",
    "Turn",
    "build_prompt",
    "estimate_tokens",
    "leaks_instructions",
]
