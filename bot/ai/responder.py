"""The Gemini adapter: turns a Prompt into reply text with google-genai's async client, within a deadline,
and answers with a friendly fallback when the model cannot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from loguru import logger

from bot.ai.prompt import Prompt
from bot.errors import AIError, StartupError, Unavailable
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    is_fallback: bool = False
    latency_s: float = 0.0


class Responder(Protocol):
    async def reply(self, prompt: Prompt) -> Reply: ...

    async def close(self) -> None: ...


class GeminiResponder:
    """One google-genai client shared by all conversations; calls run concurrently."""

    def __init__(self, client: genai.Client, *, model: str, timeout_s: float, fallback_text: str) -> None:
        self._client = client
        self._model = model
        self._timeout_s = timeout_s
        self._fallback_text = fallback_text

    @classmethod
    def from_settings(cls, settings: Settings) -> GeminiResponder:
        if settings.gemini_api_key is None:
            raise StartupError("GEMINI_API_KEY is not set (get one at https://aistudio.google.com/apikey)")
        http_options = types.HttpOptions(
            base_url=settings.gemini_base_url,
            # The SDK retries 408/429/5xx itself with exponential backoff (tenacity inside); our deadline
            # around the whole call bounds it.
            retry_options=types.HttpRetryOptions(attempts=settings.ai_attempts, initial_delay=0.5, max_delay=4.0),
        )
        client = genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http_options)
        return cls(
            client,
            model=settings.gemini_model,
            timeout_s=settings.ai_timeout_s,
            fallback_text=settings.fallback_reply,
        )

    async def check(self) -> None:
        """Prove at start-up that the endpoint answers and takes the key; a model lookup costs no tokens."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.aio.models.get(model=self._model)
        except genai_errors.ClientError as error:
            raise StartupError(
                f"Gemini refused the API key or the model {self._model!r} (GEMINI_API_KEY, GEMINI_MODEL): "
                f"HTTP {error.code} {error.message or error.status or ''}".strip()
            ) from error
        except (genai_errors.APIError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise Unavailable(f"Gemini is unreachable: {_describe(error)}") from error

    async def reply(self, prompt: Prompt) -> Reply:
        """Never raises for model trouble: a failed call becomes the fallback reply, and is logged."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                text = await self._generate(prompt)
        except (AIError, TimeoutError, genai_errors.APIError, aiohttp.ClientError, OSError) as error:
            logger.warning("Gemini could not answer ({}): sending the fallback reply", _describe(error))
            return Reply(self._fallback_text, is_fallback=True, latency_s=time.perf_counter() - started)
        return Reply(text, latency_s=time.perf_counter() - started)

    async def _generate(self, prompt: Prompt) -> str:
        response = await self._client.aio.models.generate_content(
            model=self._model,
            contents=[types.Content(role=turn.role, parts=[types.Part(text=turn.text)]) for turn in prompt.turns],
            config=types.GenerateContentConfig(system_instruction=prompt.system_instruction),
        )
        text = (response.text or "").strip()
        if not text:
            reason = response.candidates[0].finish_reason if response.candidates else "no candidates"
            raise AIError(f"empty answer (finish reason: {reason})")
        return text

    async def close(self) -> None:
        await self._client.aio.aclose()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, genai_errors.APIError):
        return f"HTTP {error.code} {error.status or ''}".strip()
    return f"{type(error).__name__}: {error}"
