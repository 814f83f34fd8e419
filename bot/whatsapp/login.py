"""Showing the login QR code to the operator: in the terminal and as a PNG file.

A QR code links a device to the account, so it is a key to the account. It is written only into the private
sessions folder (mode 0600) and drawn in the terminal only when that is a real terminal: under systemd the
output goes to the journal, which other users may read.
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


class QrPresenter:
    """Called with each new login code (they rotate every ~20 s) and with None once linked."""

    def __init__(self, png_path: Path, *, terminal: TextIO | None = None) -> None:
        self._png_path = png_path
        self._terminal = terminal if terminal is not None else (sys.stderr if sys.stderr.isatty() else None)
        self._shown = False

    async def __call__(self, code: LoginCode | None) -> None:
        if code is None:
            self.clear()
        else:
            self.show(code)

    def show(self, code: LoginCode) -> None:
        qr = segno.make(code.full_code, error="l")
        self._write_png(qr)
        if self._terminal is not None:
            qr.terminal(out=self._terminal, compact=True)
            self._terminal.flush()
        if not self._shown:
            logger.info("Login needed. {} (also saved as {})", HOW_TO_SCAN, self._png_path)
        self._shown = True

    def clear(self) -> None:
        """Remove the PNG: once linked, an old code must not lie around."""
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
