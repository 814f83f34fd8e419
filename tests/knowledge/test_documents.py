"""Reading Markdown, text and PDF files, and the errors for files that cannot be knowledge."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DecodedStreamObject, DictionaryObject, NameObject

from bot.knowledge.documents import UnreadableDocument, document_id, read_document


def write_pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    """A PDF whose pages show these lines of text (Helvetica), made with pypdf itself."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
        )
        lines = "".join(f"({line}) Tj 0 -16 Td " for line in text.splitlines())
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td {lines}ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(ContentStream(stream, writer))
    if password is not None:
        writer.encrypt(password, algorithm="RC4-128")
    with path.open("wb") as file:
        writer.write(file)
    return path


@pytest.mark.parametrize("suffix", [".md", ".markdown", ".txt", ".MD"])
def test_text_files_are_read_whole(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"notes{suffix}"
    path.write_bytes("\ufeff# Hours\r\n\r\nOpen 9–18, café closed.\r\n\n".encode())
    assert read_document(path) == "# Hours\n\nOpen 9–18, café closed."


def test_a_pdf_is_read_page_by_page(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "studio.pdf", ["Office hours\nMonday to Friday", "Rates\n90 euros"])
    text = read_document(path)
    pages = text.split("\n\n")
    assert len(pages) == 2
    assert "Office hours" in pages[0] and "Monday to Friday" in pages[0]
    assert "90 euros" in pages[1]


def test_an_encrypted_pdf_with_an_empty_password_is_read(tmp_path: Path) -> None:
    assert "Open daily" in read_document(write_pdf(tmp_path / "open.pdf", ["Open daily"], password=""))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("slides.pptx", b"PK", "unsupported file type '.pptx': use one of .markdown, .md, .pdf, .txt"),
        ("README", b"text", "unsupported file type '(none)'"),
        ("empty.md", b"", "empty"),
        ("blank.txt", b"  \n\n \t\n", "empty"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8 text (byte 3): save it as UTF-8"),
        ("broken.pdf", b"%PDF-1.7\nthis is not a PDF at all", "not a readable PDF"),
        ("fake.pdf", b"hello", "not a readable PDF"),
    ],
)
def test_unusable_files_say_why(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableDocument, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_document(path)


def test_a_pdf_without_text_or_with_a_password_says_why(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument, match="no text in it"):
        read_document(write_pdf(tmp_path / "scan.pdf", [""]))
    with pytest.raises(UnreadableDocument, match="password-protected"):
        read_document(write_pdf(tmp_path / "secret.pdf", ["Secret"], password="hunter2"))


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument, match="no such file"):
        read_document(tmp_path / "gone.md")
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(UnreadableDocument, match="not a file"):
        read_document(tmp_path / "folder.md")


def test_document_id_follows_the_content() -> None:
    assert document_id("Open 9 to 6") == document_id("Open 9 to 6")
    assert document_id("Open 9 to 6") != document_id("Open 9 to 7")
    assert len(document_id("x")) == 16
