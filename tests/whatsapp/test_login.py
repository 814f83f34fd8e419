"""The login QR: a private PNG, drawn in the terminal only when asked, removed once linked."""

from __future__ import annotations

import io
import stat
from pathlib import Path

from bot.whatsapp import LoginCode, QrPresenter

CODE = LoginCode(ref="2@abc", full_code="2@abc,AAAA,BBBB,CCCC")


async def test_png_is_private_and_removed_when_linked(tmp_path: Path) -> None:
    png = tmp_path / "sessions" / "default.qr.png"
    terminal = io.StringIO()
    presenter = QrPresenter(png, text_out=terminal)
    await presenter(CODE)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert "\u2588" in terminal.getvalue() or "\u2580" in terminal.getvalue()  # block characters of the code
    await presenter(None)
    assert not png.exists()


async def test_png_changes_when_the_code_rotates(tmp_path: Path) -> None:
    png = tmp_path / "qr.png"
    presenter = QrPresenter(png, text_out=io.StringIO())
    await presenter(CODE)
    first = png.read_bytes()
    await presenter(LoginCode(ref="2@def", full_code="2@def,DDDD,EEEE,FFFF"))
    assert png.read_bytes() != first
