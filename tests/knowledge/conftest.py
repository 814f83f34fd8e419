"""An Embedder (the real google-genai SDK) pointed at the test's simulator, and the demo's knowledge file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.ai.embeddings import Embedder
from bot.settings import PROJECT_ROOT, Settings
from bot.simulator import Simulator

DEMO_KNOWLEDGE = PROJECT_ROOT / "config" / "demo" / "knowledge.md"

MakeEmbedder = Callable[..., Embedder]


@pytest.fixture
async def make_embedder(simulator: Simulator) -> AsyncIterator[MakeEmbedder]:
    made: list[Embedder] = []

    def make(**overrides: Any) -> Embedder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            gemini_api_key="test-key",  # type: ignore[arg-type]
            gemini_base_url=simulator.gemini_base_url,
            **overrides,
        )
        made.append(Embedder.from_settings(settings))
        return made[-1]

    yield make
    for embedder in made:
        await embedder.close()


@pytest.fixture
def demo_knowledge() -> Path:
    return DEMO_KNOWLEDGE


@pytest.fixture
def embed_calls(simulator: Simulator) -> Callable[[], list[dict[str, Any]]]:
    """The embedding calls the fake Gemini received so far."""
    return lambda: [r for r in simulator.gemini.requests if r["method"] in ("batchEmbedContents", "embedContent")]
