"""The Gemini adapter: turns a Prompt into reply text with google-genai's async client, within a deadline,
and answers with a friendly fallback when the model cannot.

Retries are ours, not the SDK's: one policy (bot/resilience) decides what is worth a second call, how long to
wait and when to give up, so that one message never costs more than AI_ATTEMPTS calls.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from loguru import logger
from tenacity import RetryCallState

from bot.ai.prompt import Prompt
from bot.errors import AIError, StartupError, Unavailable
from bot.resilience import parse_retry_after, retry_policy
from bot.settings import Settings

T = TypeVar("T")

# 408 and 429 are the only 4xx answers that can change on their own; any other 4xx will be refused again.
RETRYABLE_CLIENT_CODES = frozenset({408, 429})
# google.rpc.RetryInfo.retryDelay is a protobuf Duration in JSON: "37s", "0.5s".
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the model answered, or the fallback; `attempts` and `error` say what it cost and why it fell back."""

    text: str
    is_fallback: bool = False
    latency_s: float = 0.0
    attempts: int = 1
    error: str | None = None


class Responder(Protocol):
    async def reply(self, prompt: Prompt) -> Reply: ...

    async def close(self) -> None: ...


class GeminiResponder:
    """One google-genai client shared by all conversations; calls run concurrently."""

    def __init__(
        self,
        client: genai.Client,
        *,
        model: str,
        timeout_s: float,
        fallback_text: str,
        attempts: int = 3,
        call_timeout_s: float | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 8.0,
    ) -> None:
        """`client` must not retry by itself (see from_settings), or one reply could cost attempts x its calls."""
        self._client = client
        self._model = model
        self._timeout_s = timeout_s
        self._fallback_text = fallback_text
        self._attempts = attempts
        self._call_timeout_s = call_timeout_s if call_timeout_s is not None else timeout_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s

    @classmethod
    def from_settings(cls, settings: Settings) -> GeminiResponder:
        if settings.gemini_api_key is None:
            raise StartupError("GEMINI_API_KEY is not set (get one at https://aistudio.google.com/apikey)")
        http_options = types.HttpOptions(
            base_url=settings.gemini_base_url,
            # attempts=1, not None: without retry options the SDK still retries a failed connection once, after
            # sleeping 1 to 10 s, and that hidden call would escape AI_ATTEMPTS and the waits we choose.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        client = genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http_options)
        return cls(
            client,
            model=settings.gemini_model,
            timeout_s=settings.ai_timeout_s,
            fallback_text=settings.fallback_reply,
            attempts=settings.ai_attempts,
            call_timeout_s=settings.ai_call_timeout_s,
            retry_initial_s=settings.ai_retry_initial_s,
            retry_max_s=settings.ai_retry_max_s,
        )

    async def check(self) -> None:
        """Prove at start-up that the endpoint answers and takes the key; a model lookup costs no tokens."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._with_retries(lambda: self._client.aio.models.get(model=self._model), _Calls(), "lookup")
        except genai_errors.ClientError as error:
            if not is_retryable(error):
                raise StartupError(
                    f"Gemini refused the API key or the model {self._model!r} (GEMINI_API_KEY, GEMINI_MODEL): "
                    f"HTTP {error.code} {error.message or error.status or ''}".strip()
                ) from error
            raise Unavailable(f"Gemini is unavailable: {describe_error(error)}") from error
        except (genai_errors.APIError, aiohttp.ClientError, OSError) as error:
            raise Unavailable(f"Gemini is unreachable: {describe_error(error)}") from error

    async def reply(self, prompt: Prompt) -> Reply:
        """Never raises for model trouble: after the last failed call the fallback reply is returned."""
        started = time.perf_counter()
        calls = _Calls()
        try:
            async with asyncio.timeout(self._timeout_s) as deadline:
                text = await self._with_retries(lambda: self._generate(prompt), calls, "call")
        except (
            AIError,
            genai_errors.APIError,
            genai_errors.UnknownApiResponseError,
            aiohttp.ClientError,
            OSError,  # TimeoutError too
        ) as error:
            if isinstance(error, TimeoutError) and deadline.expired():
                reason = f"no answer within the {self._timeout_s:g} s deadline (AI_TIMEOUT_S)"
                if calls.made > calls.logged:
                    self._log_failure(calls.made, reason, "sending the fallback reply")
                else:
                    logger.warning("Gemini: {} after {} calls; sending the fallback reply", reason, calls.made)
            else:
                reason = describe_error(error)
                self._log_failure(calls.made, reason, f"{self._why_stopped(error, calls.made)}; sending the fallback")
            return Reply(
                self._fallback_text,
                is_fallback=True,
                latency_s=time.perf_counter() - started,
                attempts=calls.made,
                error=reason,
            )
        return Reply(text, latency_s=time.perf_counter() - started, attempts=calls.made)

    async def _with_retries(self, call: Callable[[], Awaitable[T]], calls: _Calls, what: str) -> T:
        async def one_call() -> T:
            calls.made += 1
            try:
                async with asyncio.timeout(self._call_timeout_s) as call_deadline:
                    return await call()
            except TimeoutError as error:
                if call_deadline.expired():
                    raise TimeoutError(f"no answer within {self._call_timeout_s:g} s (AI_CALL_TIMEOUT_S)") from error
                raise

        def before_sleep(state: RetryCallState) -> None:
            calls.logged = state.attempt_number
            error = state.outcome.exception() if state.outcome is not None else None
            logger.warning(
                "Gemini {} {} of {} failed ({}); trying again in {:.2f} s",
                what,
                state.attempt_number,
                self._attempts,
                describe_error(error) if error is not None else "?",
                state.upcoming_sleep,
            )

        retrying = retry_policy(
            retryable=is_retryable,
            attempts=self._attempts,
            initial_wait_s=self._retry_initial_s,
            max_wait_s=self._retry_max_s,
            deadline_s=self._timeout_s,
            retry_after=retry_after_of,
            before_sleep=before_sleep,
        )
        return await retrying(one_call)

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

    def _why_stopped(self, error: BaseException, calls: int) -> str:
        if not is_retryable(error):
            return "not worth retrying"
        if calls >= self._attempts:
            return f"no calls left (AI_ATTEMPTS={self._attempts})"
        return "the next try would come too late (AI_TIMEOUT_S, AI_RETRY_MAX_S)"

    def _log_failure(self, attempt: int, reason: str, outcome: str) -> None:
        logger.warning("Gemini call {} of {} failed ({}); {}", attempt, self._attempts, reason, outcome)

    async def close(self) -> None:
        await self._client.aio.aclose()


@dataclass(slots=True)
class _Calls:
    """Counted here rather than read from tenacity, so a call cut off by the overall deadline counts too."""

    made: int = 0
    logged: int = 0  # failed calls that already have their warning line


def is_retryable(error: BaseException) -> bool:
    """Trouble that another call can get past: 408, 429, 5xx, a timed-out call, a network failure."""
    if isinstance(error, genai_errors.APIError):
        code = error.code
        return isinstance(code, int) and (code in RETRYABLE_CLIENT_CODES or 500 <= code <= 599)
    if isinstance(error, aiohttp.InvalidURL):
        return False  # a wrong GEMINI_BASE_URL stays wrong
    if isinstance(error, aiohttp.ClientResponseError):
        return error.status in RETRYABLE_CLIENT_CODES or 500 <= error.status <= 599
    return isinstance(error, TimeoutError | aiohttp.ClientError | OSError)


def retry_after_of(error: BaseException) -> float | None:
    """The wait Gemini asked for: a Retry-After header, else google.rpc.RetryInfo in the error body."""
    if not isinstance(error, genai_errors.APIError):
        return None
    response: Any = getattr(error, "response", None)
    # google-auth's async session wraps the aiohttp response; its headers are on the inner one.
    response = getattr(response, "_response", response)
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            header = headers.get("Retry-After")
        except (AttributeError, TypeError):
            header = None
        if (seconds := parse_retry_after(header)) is not None:
            return seconds
    return _retry_info_delay(error.details)


def _retry_info_delay(details: Any) -> float | None:
    body = details.get("error", details) if isinstance(details, dict) else None
    items = body.get("details") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            continue
        delay = item.get("retryDelay")
        if isinstance(delay, str) and (match := _DURATION.fullmatch(delay.strip())):
            return float(match.group(1))
    return None


def describe_error(error: BaseException) -> str:
    """One short line for logs and for Reply.error; never the request or the key."""
    if isinstance(error, genai_errors.APIError):
        text = f"HTTP {error.code} {error.status or ''}".strip()
        if (asked := retry_after_of(error)) is not None:
            text += f", retry after {asked:g} s"
        return text
    if isinstance(error, TimeoutError):
        return str(error) or "timed out"
    if isinstance(error, AIError):
        return str(error)
    return f"{type(error).__name__}: {error}"
