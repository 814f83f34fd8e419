"""What every operator tool shares: the database the daemon uses, and a clear error for bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bot.errors import EXIT_SETTINGS, StartupError
from bot.settings import Settings
from bot.storage import Database


class ToolError(StartupError):
    """The command cannot do what was asked (bad input, unknown contact); the message says why. Nothing changed."""

    exit_code = EXIT_SETTINGS


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The daemon's database, with its indexes. The in-memory store is refused: it would vanish with the command."""
    if settings.uses_memory_store:
        raise ToolError(
            "MONGODB_URI=memory:// keeps nothing between commands: set MONGODB_URI to the bot's MongoDB "
            "(the demo's data too: start the demo with MONGODB_URI set)"
        )
    database = await Database.from_settings(settings)
    try:
        await database.ensure_indexes()
        yield database
    finally:
        await database.close()


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: a header line, then one line per row, columns padded to their widest cell."""
    cells = [[str(value) if value is not None else "" for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *cells]
    ]
    return "\n".join(lines)
