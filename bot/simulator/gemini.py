"""A stand-in for the Gemini API (generativelanguage v1/v1beta) that the real google-genai SDK can talk to."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from loguru import logger

from bot.simulator import embeddings
from bot.simulator.offline_model import answer as offline_answer
from bot.simulator.offline_model import fill_schema

PAUSE_POLL_S = 0.02
# A hung call ends when its client gives up; the bound keeps a forgotten one from outliving a test run.
HANG_LIMIT_S = 300.0
_STATUS_NAMES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request is missing a valid API key."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred. Please retry."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def google_error(status: int, message: str | None = None, *, retry_after_s: float | None = None) -> web.Response:
    """An error in Google's JSON shape, which google-genai turns into ClientError / ServerError."""
    name, default = _STATUS_NAMES.get(status, ("UNKNOWN", "Simulated failure."))
    body = {"error": {"code": status, "message": message or default, "status": name}}
    headers = {"Retry-After": _seconds_text(retry_after_s)} if retry_after_s is not None else None
    return web.json_response(body, status=status, headers=headers)


@dataclass
class Behaviour:
    """Injected trouble: fail the next `fail_next` calls with `status` (with a Retry-After header when
    `retry_after_s` is set); leave the next `hang_next` calls unanswered until the client gives up; add
    `delay_ms` to every call."""

    fail_next: int = 0
    status: int = 503
    delay_ms: float = 0.0
    retry_after_s: float | None = None
    hang_next: int = 0

    @classmethod
    def parse(cls, body: Any) -> Behaviour:
        """From POST /api/gemini/behaviour; missing fields take defaults, so {} resets. Raises ValueError."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        fail_next, status, delay_ms = body.get("fail_next", 0), body.get("status", 503), body.get("delay_ms", 0)
        retry_after_s, hang_next = body.get("retry_after_s"), body.get("hang_next", 0)
        if not _is_whole(fail_next) or fail_next < 0:
            raise ValueError('"fail_next" must be a whole number >= 0')
        if not _is_whole(status) or not 400 <= status <= 599:
            raise ValueError('"status" must be an HTTP error status between 400 and 599')
        if not _is_number(delay_ms) or delay_ms < 0:
            raise ValueError('"delay_ms" must be a number >= 0')
        if retry_after_s is not None and (not _is_number(retry_after_s) or not 0 <= retry_after_s <= 86400):
            raise ValueError('"retry_after_s" must be a number of seconds between 0 and 86400, or null')
        if not _is_whole(hang_next) or hang_next < 0:
            raise ValueError('"hang_next" must be a whole number >= 0')
        return cls(
            fail_next=fail_next,
            status=status,
            delay_ms=float(delay_ms),
            retry_after_s=float(retry_after_s) if retry_after_s is not None else None,
            hang_next=hang_next,
        )


_OPTIONAL_FIELDS = ("retry_after_s", "hang_next")


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _seconds_text(seconds: float) -> str:
    """Whole seconds as HTTP writes them; a fraction is kept (not standard) so tests need not wait whole seconds."""
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:.3f}"


class FakeGemini:
    """Answers generateContent (and streamGenerateContent, countTokens, embedContent, batchEmbedContents) and
    records every request, failed and hung ones included, so tests can count the calls a reply cost."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """POST /gemini/{version}/models/{model}:{method}."""
        model, _, method = request.match_info["tail"].partition(":")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        record = _record(model, method, body)
        self.requests.append(record)
        if self.behaviour.hang_next > 0:
            self.behaviour.hang_next -= 1
            await _pause(request, HANG_LIMIT_S)
            return _abandoned()
        if self.behaviour.delay_ms and not await _pause(request, self.behaviour.delay_ms / 1000):
            return _abandoned()
        response = self._answer(request, model, method, body, record)
        record["status"] = response.status
        if response.status >= 400:
            logger.debug("fake gemini {} {} -> {}", model, method, response.status)
        if method == "streamGenerateContent" and response.status == 200:
            return await _as_sse(request, response)
        return response

    async def get_model(self, request: web.Request) -> web.Response:
        """GET /gemini/{version}/models/{model}: what the bot checks at start-up. Not recorded as a request."""
        if (refusal := self._refusal(request)) is not None:
            return refusal
        model = request.match_info["tail"]
        return web.json_response(
            {"name": f"models/{model}", "displayName": f"{model} (simulator)", "supportedActions": ["generateContent"]}
        )

    def _refusal(self, request: web.Request) -> web.Response | None:
        """A missing key, or a failure injected through /api/gemini/behaviour."""
        if not (request.headers.get("x-goog-api-key") or request.query.get("key")):
            return google_error(401, "Request is missing a valid API key (send the x-goog-api-key header).")
        if self.behaviour.fail_next > 0:
            self.behaviour.fail_next -= 1
            return google_error(self.behaviour.status, retry_after_s=self.behaviour.retry_after_s)
        return None

    def _answer(self, request: web.Request, model: str, method: str, body: Any, record: dict[str, Any]) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        if method in ("embedContent", "batchEmbedContents"):
            try:
                return web.json_response(embeddings.answer(method, body))
            except ValueError as error:
                return google_error(400, str(error))
        if method not in ("generateContent", "streamGenerateContent", "countTokens"):
            return google_error(404, f"Method {method!r} is not supported by the simulator's fake Gemini.")
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
            return google_error(400, "Request body must be JSON with a 'contents' list.")
        prompt_tokens = _tokens(record["system_instruction"]) + sum(_tokens(c["text"]) for c in record["contents"])
        if method == "countTokens":
            return web.json_response({"totalTokens": prompt_tokens})
        user_turns = [c["text"] for c in record["contents"] if c["role"] in ("user", "")]
        answer = offline_answer(record["system_instruction"], user_turns)
        text = answer.reply
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
            text = json.dumps(fill_schema(schema, text, flags={"needs_human": answer.needs_human}))
        reply_tokens = _tokens(text)
        return web.json_response(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": reply_tokens,
                    "totalTokenCount": prompt_tokens + reply_tokens,
                },
                "modelVersion": model,
            }
        )

    def set_behaviour(self, body: Any) -> dict[str, Any]:
        """The behaviour now in force; the optional fields show only when set, so the original echo is unchanged."""
        self.behaviour = Behaviour.parse(body)
        shown = asdict(self.behaviour)
        for name in _OPTIONAL_FIELDS:
            if shown[name] == getattr(Behaviour, name):
                del shown[name]
        return shown


def _record(model: str, method: str, body: Any) -> dict[str, Any]:
    """The request as /api/gemini/requests shows it: role and joined text per content."""
    body = body if isinstance(body, dict) else {}
    contents = []
    for content in body.get("contents") or embeddings.contents_of(body):
        if isinstance(content, dict):
            turn: dict[str, Any] = {"role": content.get("role") or "", "text": _text_of(content)}
            # Only on contents that carry files, so text-only requests keep their plain shape.
            if media := _media_of(content):
                turn["media"] = media
            contents.append(turn)
    system = body.get("systemInstruction") or body.get("system_instruction")
    return {
        "model": model,
        "method": method,
        "system_instruction": _text_of(system) if isinstance(system, dict) else "",
        "contents": contents,
        "time": time.time(),
        "status": None,
    }


def _abandoned() -> web.Response:
    """For a call whose client has gone: nobody reads it, and its record keeps "status": None (not answered)."""
    return web.Response(status=499)


async def _pause(request: web.Request, seconds: float) -> bool:
    """Wait like a slow model; False when the client gave up meanwhile. aiohttp does not cancel a handler whose
    client left, so the connection is watched: otherwise an abandoned slow call would hold up the server's stop."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(left, PAUSE_POLL_S))
    return True


def _text_of(content: dict[str, Any]) -> str:
    parts = content.get("parts") or []
    return "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _media_of(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline files of a content (an image the bot attached): their type and size in bytes."""
    media = []
    for part in content.get("parts") or []:
        inline = (part.get("inlineData") or part.get("inline_data")) if isinstance(part, dict) else None
        if isinstance(inline, dict):
            data = inline.get("data")
            data = data if isinstance(data, str) else ""
            mime_type = inline.get("mimeType") or inline.get("mime_type") or ""
            media.append({"mime_type": mime_type, "bytes": _decoded_size(data)})
    return media


def _decoded_size(data: str) -> int:
    """Bytes in base64 text; google-genai sends the URL-safe alphabet. A broken string counts as -1."""
    try:
        return len(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return -1


def _tokens(text: str) -> int:
    """Roughly Gemini's count for English: a token per four characters."""
    return (len(text) + 3) // 4


async def _as_sse(request: web.Request, response: web.Response) -> web.StreamResponse:
    """streamGenerateContent?alt=sse: the whole answer as one server-sent event."""
    stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await stream.prepare(request)
    await stream.write(b"data: " + (response.text or "").encode() + b"\r\n\r\n")
    await stream.write_eof()
    return stream
