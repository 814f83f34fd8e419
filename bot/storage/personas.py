"""Personas: how the bot speaks. Operators write them as files in config/personas/; they are loaded into
the database at start-up so that later tools can edit them in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from bot.storage.models import Persona

# Used when no persona file exists at all, so a fresh install still answers sensibly.
BUILTIN_PERSONA = Persona(
    id="default",
    name="Assistant",
    role="the assistant of the owner of this phone number",
    style="warm, brief and helpful; writes like a person texting: short paragraphs, no headings",
)


class PersonaRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def get(self, name: str) -> Persona | None:
        raw = await self._collection.find_one({"_id": name})
        return Persona.from_mongo(raw) if raw else None

    async def save(self, persona: Persona) -> None:
        await self._collection.replace_one({"_id": persona.id}, persona.to_mongo(), upsert=True)

    async def load_directory(self, folder: Path) -> list[str]:
        """Store every `<name>.md` of the folder as a persona; returns the names loaded."""
        names = []
        for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
            text = path.read_text(encoding="utf-8").strip()
            if not text:
                logger.warning("persona file {} is empty; skipped", path)
                continue
            await self.save(Persona(id=path.stem, instructions=text))
            names.append(path.stem)
        return names

    async def get_or_builtin(self, name: str) -> Persona:
        persona = await self.get(name)
        if persona is None and name != BUILTIN_PERSONA.id:
            persona = await self.get(BUILTIN_PERSONA.id)
        return persona or BUILTIN_PERSONA
