"""The demo's sample data: a few contacts and a small knowledge file from config/demo/, so a newcomer sees the
bot answer each contact as who they are, from the operator's own facts."""

from __future__ import annotations

from pathlib import Path

from bot.ai.embeddings import Embedder, EmbeddingUnavailable
from bot.knowledge.ingest import Ingester
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Database
from bot.tools.contacts import load_demo_contacts

DEMO_DIR = PROJECT_ROOT / "config" / "demo"


async def load_demo_data(db: Database, settings: Settings, folder: Path = DEMO_DIR) -> str:
    """Add the sample contacts that do not exist yet and the sample knowledge (for the default persona; the
    same file again changes nothing). Returns one line saying what was added."""
    added = await load_demo_contacts(db, folder / "contacts.yaml")
    try:
        embedder: Embedder | None = Embedder.from_settings(settings)
    except EmbeddingUnavailable:
        embedder = None
    try:
        result = await Ingester(db, settings.persona, embedder).add(folder / "knowledge.md")
    finally:
        if embedder is not None:
            await embedder.close()
    knowledge = "unchanged" if result.unchanged else f"{result.chunks} chunks"
    return f"demo data: {added} sample contact(s) added, knowledge.md for persona {settings.persona!r}: {knowledge}"
