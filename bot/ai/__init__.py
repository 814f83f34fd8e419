"""Prompt building and the Gemini responder."""

from bot.ai.prompt import Prompt, Turn, build_prompt
from bot.ai.responder import GeminiResponder, Reply, Responder

__all__ = ["GeminiResponder", "Prompt", "Reply", "Responder", "Turn", "build_prompt"]
