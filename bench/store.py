"""The store a run uses: `memory://` (the in-memory stand-in) or a MongoDB URI, with databases unique to the run."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.settings import MEMORY_URI
from bot.storage import Database

MAX_NAME_CHARS = 48  # MongoDB allows 63 bytes; room for the suffixes


def is_memory(uri: str) -> bool:
    return uri.startswith(MEMORY_URI)


def describe(uri: str) -> str:
    """What the results record: "memory", or the URI's scheme and hosts, never its credentials or options."""
    if is_memory(uri):
        return "memory"
    parts = urlsplit(uri)
    hosts = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{hosts}"


def database_name(run_name: str, purpose: str = "") -> str:
    """`bench_<run name>[_<purpose>]`, in the characters every MongoDB accepts in a database name."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", f"bench_{run_name}")[:MAX_NAME_CHARS]
    return f"{base}_{purpose}" if purpose else base


async def drop(uri: str, *names: str) -> None:
    """Drop these databases of a real server (the in-memory store goes with its process)."""
    if is_memory(uri):
        return
    for name in names:
        db = await Database.connect(uri, name)
        try:
            await db.drop()
        finally:
            await db.close()
