"""`kb add|list|remove`: the functions behind them, the argparse handlers, and the real command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.errors import EXIT_SETTINGS
from bot.settings import PROJECT_ROOT, Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import Database
from bot.storage.models import Persona
from bot.tools import knowledge as kb
from bot.tools.common import ToolError
from tests.cli_helpers import run_bot

DEMO_KNOWLEDGE = PROJECT_ROOT / "config" / "demo" / "knowledge.md"


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"gemini_api_key": None, "personas_dir": tmp_path / "personas", "persona": "assistant"}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


async def run(argv: list[str], config: Settings) -> None:
    args = build_parser().parse_args(argv)
    await args.handler(args, config)


async def test_kb_add_without_a_key_stores_plain_chunks_and_lists_them(
    use_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "assistant.toml").write_text('name = "Sam"\nrole = "assistant"\n')
    await run(["kb", "add", str(DEMO_KNOWLEDGE)], settings(tmp_path))
    assert capsys.readouterr().out.splitlines() == [
        "knowledge.md: read, 6 chunks",
        "knowledge.md: stored; no embeddings: GEMINI_API_KEY not set - lexical search will be used",
    ]
    [document] = await use_db.knowledge.documents()
    assert (document.persona, document.source, document.chunks, document.embedded) == (
        "assistant",
        "knowledge.md",
        6,
        False,
    )
    await run(["kb", "list"], settings(tmp_path))
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["PERSONA", "SOURCE", "ID", "CHUNKS", "EMBEDDED", "ADDED", "(UTC)"]
    assert row.split()[:5] == ["assistant", "knowledge.md", document.document_id[:12], "6", "no"]


async def test_kb_add_embeds_through_gemini_and_reports_unreadable_files(
    use_db: Database, simulator: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await use_db.personas.save(Persona(id="support", name="Ana", role="support at Acme"))
    notes = tmp_path / "notes.txt"
    notes.write_text("Returns are accepted within 30 days with the receipt.\n")
    config = settings(tmp_path, gemini_api_key="test-key", gemini_base_url=simulator.gemini_base_url)
    argv = ["kb", "add", str(tmp_path / "gone.md"), str(notes), str(tmp_path / "deck.pptx"), "--persona", "support"]
    with pytest.raises(ToolError, match="2 of 3 files could not be added: gone.md, deck.pptx") as caught:
        await run(argv, config)
    assert caught.value.exit_code == EXIT_SETTINGS
    assert capsys.readouterr().out.splitlines() == [
        "gone.md: cannot be read: no such file; nothing of it was stored",
        "notes.txt: read, 1 chunk",
        "notes.txt: embedded (gemini-embedding-001), stored",
        "deck.pptx: cannot be read: unsupported file type '.pptx': use one of .markdown, .md, .pdf, .txt; "
        "nothing of it was stored",
    ]
    [document] = await use_db.knowledge.documents("support")
    assert document.source == "notes.txt" and document.embedded


async def test_kb_add_with_gemini_down_still_stores(
    use_db: Database, simulator: Simulator, sim: SimulatorClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await sim.gemini_behaviour(fail_next=1, status=503)
    config = settings(tmp_path, gemini_api_key="test-key", gemini_base_url=simulator.gemini_base_url)
    await run(["kb", "add", str(DEMO_KNOWLEDGE), "--persona", "default"], config)
    assert capsys.readouterr().out.splitlines()[-1] == (
        "knowledge.md: stored; no embeddings: model unavailable (HTTP 503 UNAVAILABLE) - lexical search will be used"
    )
    assert len(await use_db.knowledge.chunks("default")) == 6


async def test_kb_add_needs_an_existing_persona(use_db: Database, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no persona named 'nobody'"):
        await run(["kb", "add", str(DEMO_KNOWLEDGE), "--persona", "nobody"], settings(tmp_path))
    assert await use_db.knowledge.documents() == []


async def test_kb_remove_by_name_or_id(use_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for persona in ("default", "support"):
        await kb.add_files(use_db, [DEMO_KNOWLEDGE], persona=persona, embedder=None, progress=lambda _: None)
    await run(["kb", "remove", "knowledge.md", "--persona", "support"], settings(tmp_path))
    assert capsys.readouterr().out == "removed knowledge.md: 6 chunks\n"
    [document] = await use_db.knowledge.documents()
    assert document.persona == "default"
    await run(["kb", "remove", document.document_id[:12]], settings(tmp_path))
    assert await use_db.knowledge.documents() == []
    with pytest.raises(ToolError, match="nothing named 'knowledge.md' in the knowledge base"):
        await run(["kb", "remove", "knowledge.md"], settings(tmp_path))


async def test_list_of_an_empty_knowledge_base(db: Database) -> None:
    assert await kb.list_documents(db) == "the knowledge base is empty"
    assert await kb.list_documents(db, "support") == "the knowledge base is empty for persona 'support'"


async def test_the_command_line_refuses_the_in_memory_store(tmp_path: Path) -> None:
    finished = await run_bot("kb", "list", cwd=tmp_path, MONGODB_URI="memory://")
    assert finished.code == EXIT_SETTINGS
    assert "MONGODB_URI=memory:// keeps nothing between commands" in finished.stderr
    usage = await run_bot("kb", "add", cwd=tmp_path)
    assert usage.code == EXIT_SETTINGS and "the following arguments are required: FILE" in usage.stderr
