"""Personas: who the bot speaks as. Operators write them as TOML files in config/personas/ (`<slug>.toml`, the
slug being the persona's id); start-up stores them in the database, where the daemon and the tools read them."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.errors import EXIT_SETTINGS, StartupError
from bot.settings import NAME_PATTERN
from bot.storage.models import Persona

# Used when the wanted persona is stored nowhere, so a fresh install still answers sensibly.
BUILTIN_PERSONA = Persona(
    id="default",
    name="Assistant",
    role="the assistant of the owner of this phone number",
    style="warm, brief and helpful; writes like a person texting: short paragraphs, no headings",
)

# What a persona file may set; id, source and updated_at come from the file itself.
FILE_FIELDS = frozenset({"name", "role", "personality", "style", "greeting", "organisation", "instructions"})


class PersonaFileError(StartupError):
    """A persona file cannot be read (bad TOML, an unknown or wrong-typed field): the daemon must not start with a
    persona silently missing. The message names the file and the field."""

    exit_code = EXIT_SETTINGS


@dataclass(frozen=True)
class PersonaSync:
    """What a sync of the personas folder did: personas stored from files, and stored ones whose file is gone."""

    loaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def read_persona_file(path: Path) -> Persona:
    """The persona a TOML file describes; raises PersonaFileError naming the file (and the field) when invalid."""
    if not NAME_PATTERN.fullmatch(path.stem):
        raise PersonaFileError(f"persona file {path}: the name must be 1 to 64 letters, digits, '_' or '-'")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise PersonaFileError(f"persona file {path}: cannot be read ({error})") from error
    except tomllib.TOMLDecodeError as error:
        raise PersonaFileError(f"persona file {path}: not valid TOML ({error})") from error
    unknown = sorted(set(data) - FILE_FIELDS)
    if unknown:
        raise PersonaFileError(
            f"persona file {path}: unknown field {unknown[0]!r} (known: {', '.join(sorted(FILE_FIELDS))})"
        )
    try:
        # Strict: TOML has real types, so "300" where a number belongs is a mistake worth reporting.
        return Persona.model_validate({**data, "_id": path.stem, "source": str(path.resolve())}, strict=True)
    except ValidationError as error:
        raise PersonaFileError(f"persona file {path}: {_describe(error)}") from None


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"field {where}: {message}")
    return "; ".join(problems)


# How old a cached persona may be: one is read for every reply and changes rarely. Saves through this process
# (the API, start-up) take effect at once; edits another process makes reach the daemon within this time.
PERSONA_CACHE_S = 30.0


class PersonaRepository:
    def __init__(self, collection: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._collection = collection
        self._clock = clock
        self._cache: dict[str, tuple[float, Persona]] = {}

    async def get(self, name: str) -> Persona | None:
        raw = await self._collection.find_one({"_id": name})
        return Persona.from_mongo(raw) if raw else None

    async def list(self) -> list[Persona]:
        """Every stored persona, by id."""
        return [Persona.from_mongo(raw) async for raw in self._collection.find({}).sort("_id", 1)]

    async def save(self, persona: Persona) -> None:
        await self._collection.replace_one({"_id": persona.id}, persona.to_mongo(), upsert=True)
        self._cache.clear()

    async def sync_directory(self, folder: Path) -> PersonaSync:
        """Store every `<slug>.toml` of the folder, and remove the stored personas that came from a file that is
        no longer there (personas made by tools, with no source, are kept).

        Every file is read before anything is stored, so an invalid one (PersonaFileError) changes nothing.
        A stored persona loaded from elsewhere (an earlier PERSONAS_DIR) counts as gone: the folder is the truth.
        """
        paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        personas = [read_persona_file(path) for path in paths]
        for persona in personas:
            await self.save(persona)
        kept = {persona.source for persona in personas}
        removed = []
        async for raw in self._collection.find({"source": {"$ne": None}}, {"_id": 1, "source": 1}):
            if raw["source"] not in kept:
                removed.append(raw["_id"])
        if removed:
            await self._collection.delete_many({"_id": {"$in": removed}})
            self._cache.clear()
        return PersonaSync(loaded=[persona.id for persona in personas], removed=sorted(removed))

    async def get_or_builtin(self, name: str) -> Persona:
        persona = await self.get(name)
        if persona is None and name != BUILTIN_PERSONA.id:
            persona = await self.get(BUILTIN_PERSONA.id)
        return persona or BUILTIN_PERSONA

    async def for_reply(self, name: str) -> Persona:
        """`get_or_builtin` from a copy at most PERSONA_CACHE_S old: no database read on a reply's way."""
        now = self._clock()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < PERSONA_CACHE_S:
            return cached[1]
        persona = await self.get_or_builtin(name)
        self._cache[name] = (now, persona)
        return persona
