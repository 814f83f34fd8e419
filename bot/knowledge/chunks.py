"""Splitting a document into chunks of a few hundred words, at headings and paragraph ends.

A chunk is what a prompt receives when it is relevant, so it should hold one topic: a section is never merged
with the next one, and a long section is cut between paragraphs (a paragraph longer than a chunk, between
sentences). Each chunk keeps its nearest heading, which says what the chunk is about when its text does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_WORDS = 250

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}(=+|-+|\*{3,}|_{3,})\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    heading: str | None
    text: str

    @property
    def searchable(self) -> str:
        """What is embedded and searched: the heading belongs to the chunk's meaning."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


def split_text(text: str, *, max_words: int = MAX_WORDS) -> list[Chunk]:
    """The chunks of `text` in order; Markdown headings (`#`, or underlined) start a new chunk."""
    chunks: list[Chunk] = []
    for heading, paragraphs in _sections(text):
        pieces = [piece for paragraph in paragraphs for piece in _fit(paragraph, max_words)]
        current: list[str] = []
        count = 0
        for piece in pieces:
            words = _words(piece)
            if current and count + words > max_words:
                chunks.append(Chunk(heading, "\n\n".join(current)))
                current, count = [], 0
            current.append(piece)
            count += words
        if current:
            chunks.append(Chunk(heading, "\n\n".join(current)))
    return chunks


def _sections(text: str) -> list[tuple[str | None, list[str]]]:
    """(heading, paragraphs) in order; text before the first heading has none. A heading with nothing under it
    carries no facts and is dropped."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    paragraph: list[str] = []
    lines = text.splitlines()

    def end_paragraph() -> None:
        if paragraph:
            sections[-1][1].append("\n".join(paragraph).strip())
            paragraph.clear()

    in_fence = False
    for index, line in enumerate(lines):
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            paragraph.append(line.rstrip())
        elif in_fence:
            paragraph.append(line.rstrip())  # code keeps its blank lines, and its "#" lines are not headings
        elif match := _HEADING.match(line):
            end_paragraph()
            sections.append((match.group(2).strip(), []))
        elif line.strip() and not paragraph and _UNDERLINE.match(next_line) and not _RULE.match(line):
            sections.append((line.strip(), []))  # a heading underlined with === or ---
        elif not line.strip() or _RULE.match(line):
            end_paragraph()  # a blank line, the underline of the heading just taken, or a horizontal rule
        else:
            paragraph.append(line.rstrip())
    end_paragraph()
    return [(heading, [p for p in paragraphs if p]) for heading, paragraphs in sections if paragraphs]


def _fit(paragraph: str, max_words: int) -> list[str]:
    """The paragraph, or pieces of it no longer than max_words: cut between sentences, else between words."""
    if _words(paragraph) <= max_words:
        return [paragraph]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        while len(words) > max_words:  # one endless sentence (a PDF's table, a list without stops)
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and len(current) + len(words) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _words(text: str) -> int:
    return len(text.split())
