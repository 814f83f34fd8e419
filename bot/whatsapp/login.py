"""Showing the login QR code to the operator: as text on stderr (the terminal, or the journal under systemd) and
as a PNG file in the private sessions folder.

A QR code links a device to the account, so it is a key to the account while it is valid (about 20 s, until
WhatsApp rotates it). The PNG is created 0600 and removed as soon as the code is no longer valid; the text can
be turned off (LOGIN_QR_TEXT=false) where the journal is readable by people who must not link the account.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

import segno
from loguru import logger

from bot.whatsapp.events import LoginCode

HOW_TO_SCAN = "On your phone: WhatsApp > Settings > Linked devices > Link a device, then scan the code"
HOW_TO_PAIR = (
    "On your phone: WhatsApp > Settings > Linked devices > Link a device > Link with phone number instead, "
    "then type the code"
)


def format_pairing_code(code: str) -> str:
    """WhatsApp shows pairing codes as two groups of four: ABCD-EFGH."""
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


class QrPresenter:
    """Called with each new login code (they rotate every ~20 s) and with None once it is no longer valid."""

    def __init__(self, png_path: Path, *, text_out: TextIO | None = None) -> None:
        self._png_path = png_path
        self._text_out = text_out
        self._shown = False

    @classmethod
    def to_stderr(cls, png_path: Path, *, as_text: bool) -> QrPresenter:
        return cls(png_path, text_out=sys.stderr if as_text else None)

    async def __call__(self, code: LoginCode | None) -> None:
        if code is None:
            self.clear()
        else:
            self.show(code)

    def show(self, code: LoginCode) -> None:
        qr = segno.make(code.full_code, error="l")
        self._write_png(qr)
        if self._text_out is not None:
            qr.terminal(out=self._text_out, compact=True)
            self._text_out.flush()
        if not self._shown:
            logger.info("Login needed. {} (also saved as {})", HOW_TO_SCAN, self._png_path)
        self._shown = True

    def clear(self) -> None:
        """Remove the PNG: once linked or expired, an old code must not lie around."""
        self._png_path.unlink(missing_ok=True)
        self._shown = False

    def _write_png(self, qr: segno.QRCode) -> None:
        self._png_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._png_path.with_suffix(".tmp")
        # Created 0600 from the start, then renamed, so the code is never readable by others.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            qr.save(file, kind="png", scale=8, border=4)
        partial.replace(self._png_path)
