"""Reading the operator's documents (Markdown, plain text, PDF) into text, with an error that says what is wrong."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from bot.errors import BotError

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
PDF_SUFFIX = ".pdf"
SUPPORTED = ", ".join(sorted({*TEXT_SUFFIXES, PDF_SUFFIX}))


class UnreadableDocument(BotError):
    """The file cannot become knowledge (missing, unsupported, broken, empty); the message says why."""


def read_document(path: Path) -> str:
    """The document's text, stripped; raises UnreadableDocument."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES and suffix != PDF_SUFFIX:
        raise UnreadableDocument(f"unsupported file type {suffix or '(none)'!r}: use one of {SUPPORTED}")
    if not path.is_file():
        raise UnreadableDocument("no such file" if not path.exists() else "not a file")
    text = _read_pdf(path) if suffix == PDF_SUFFIX else _read_text(path)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        what = "no text in it (a scanned PDF has only images: export it with its text)" if suffix == ".pdf" else "empty"
        raise UnreadableDocument(what)
    return text


def document_id(text: str) -> str:
    """A content hash: the same text added again is recognised, whatever the file is called."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableDocument(f"not UTF-8 text (byte {error.start}): save it as UTF-8") from error
    except OSError as error:
        raise UnreadableDocument(error.strerror or str(error)) from error


def _read_pdf(path: Path) -> str:
    # pypdf logs every recoverable oddity of a PDF as a warning; what matters is whether text comes out.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("the PDF is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        # pypdf raises more than its own errors on a damaged file.
        raise UnreadableDocument(f"not a readable PDF ({type(error).__name__}: {error})") from error
    except OSError as error:
        raise UnreadableDocument(error.strerror or str(error)) from error
    # A page break is a paragraph break for the chunker.
    return "\n\n".join(page.strip() for page in pages)
