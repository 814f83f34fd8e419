"""The one way the bot makes a google-genai client: the configured endpoint and key, and no retries of its own."""

from __future__ import annotations

from google import genai
from google.genai import types

from bot.settings import Settings


def gemini_client(settings: Settings) -> genai.Client:
    """The SDK must not retry by itself: one policy (bot/resilience) decides what a second call is worth.

    attempts=1, not None: without retry options the SDK still retries a failed connection once, after sleeping 1
    to 10 s, and that hidden call would escape AI_ATTEMPTS and the waits we choose. Needs GEMINI_API_KEY.
    """
    assert settings.gemini_api_key is not None, "callers check for the key and say what to do without it"
    http_options = types.HttpOptions(
        base_url=settings.gemini_base_url, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http_options)
