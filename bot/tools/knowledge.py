"""Operator commands for knowledge: `kb add FILE... [--persona]`, `kb list [--persona]`, `kb remove NAME [--persona]`.

The work is done by functions taking a Database (and an Embedder), which tests and the demo call directly; the
argparse handlers only open the database and the embedder and print.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.ai.embeddings import Embedder, EmbeddingUnavailable
from bot.knowledge.ingest import Added, Ingester
from bot.settings import Settings
from bot.storage import Database
from bot.storage.knowledge import SHORT_ID
from bot.storage.personas import BUILTIN_PERSONA
from bot.tools import common
from bot.tools.common import ToolError, format_table


async def check_persona(db: Database, name: str, personas_dir: Path) -> None:
    """ToolError unless the persona exists: stored, a file the daemon will load, or the built-in default."""
    if name == BUILTIN_PERSONA.id or await db.personas.get(name) is not None:
        return
    if (personas_dir / f"{name}.toml").is_file():
        return
    raise ToolError(f"no persona named {name!r} (not in the database, nor {personas_dir / (name + '.toml')})")


async def add_files(
    db: Database,
    paths: Sequence[Path],
    *,
    persona: str,
    embedder: Embedder | None,
    no_embedder_reason: str = "GEMINI_API_KEY not set",
    progress: Callable[[str], None] = print,
) -> list[Added]:
    """Add every file; one that cannot be read is reported and skipped, the others are still stored."""
    ingester = Ingester(db, persona, embedder, no_embedder_reason=no_embedder_reason, progress=progress)
    return [await ingester.add(path) for path in paths]


async def list_documents(db: Database, persona: str | None = None) -> str:
    documents = await db.knowledge.documents(persona)
    if not documents:
        return "the knowledge base is empty" + (f" for persona {persona!r}" if persona else "")
    rows = [
        (
            document.persona,
            document.source,
            document.document_id[:SHORT_ID],
            document.chunks,
            "yes" if document.embedded else ("partly" if document.embedded_chunks else "no"),
            document.added_at.strftime("%Y-%m-%d %H:%M"),
        )
        for document in documents
    ]
    return format_table(["PERSONA", "SOURCE", "ID", "CHUNKS", "EMBEDDED", "ADDED (UTC)"], rows)


async def remove_document(db: Database, name: str, persona: str | None = None) -> int:
    """The number of chunks removed; ToolError when nothing matched."""
    removed = await db.knowledge.remove(name, persona)
    if not removed:
        where = f" for persona {persona!r}" if persona else ""
        raise ToolError(f"nothing named {name!r} in the knowledge base{where} (`kb list` shows the documents)")
    return removed


async def kb_add(args: argparse.Namespace, settings: Settings) -> None:
    persona = args.persona or settings.persona
    async with common.open_database(settings) as db:
        await check_persona(db, persona, settings.personas_dir)
        embedder: Embedder | None
        try:
            embedder, reason = Embedder.from_settings(settings), ""
        except EmbeddingUnavailable as error:
            embedder, reason = None, str(error)
        try:
            results = await add_files(db, args.files, persona=persona, embedder=embedder, no_embedder_reason=reason)
        finally:
            if embedder is not None:
                await embedder.close()
    failed = [result for result in results if result.error is not None]
    if failed:
        names = ", ".join(result.path.name for result in failed)
        raise ToolError(f"{len(failed)} of {len(results)} files could not be added: {names}")


async def kb_list(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        print(await list_documents(db, args.persona))


async def kb_remove(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        removed = await remove_document(db, args.name, args.persona)
    print(f"removed {args.name}: {removed} chunks")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kb = commands.add_parser("kb", help="the knowledge base: documents the bot answers from (add, list, remove)")
    actions = kb.add_subparsers(dest="kb_command", required=True, metavar="action")

    add = actions.add_parser(
        "add", help="add Markdown, text or PDF files (a file added again replaces its previous version)"
    )
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".md, .markdown, .txt or .pdf")
    add.add_argument("--persona", help="the persona whose knowledge it is (default: the PERSONA setting)")
    add.set_defaults(handler=kb_add)

    listing = actions.add_parser("list", help="the stored documents, with their chunks and whether they are embedded")
    listing.add_argument("--persona", help="only this persona's documents")
    listing.set_defaults(handler=kb_list)

    remove = actions.add_parser("remove", help="remove a document by file name or ID (as `kb list` shows them)")
    remove.add_argument("name", help="the document's file name or ID")
    remove.add_argument("--persona", help="only from this persona's knowledge (default: every persona's)")
    remove.set_defaults(handler=kb_remove)
