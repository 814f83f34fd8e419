"""Contacts as files the operator edits (CSV, YAML): every row validated, each error with its line.

One row per contact; the columns (CSV) or keys (YAML) are COLUMNS, only `number` is required. A column or key
that is present is applied on import, an empty value clearing it (flags and priority: empty keeps them), so an
export imported again changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.storage.contacts import OPERATOR_FIELDS, chat_id_of, normalize_number
from bot.storage.models import Contact, Relationship

Format = Literal["csv", "yaml"]
COLUMNS = ("number", *OPERATOR_FIELDS)
TEXT_FIELDS = ("name", "notes", "instructions")
FLAGS = ("auto_reply", "blocked")
TRUE = frozenset({"true", "yes", "on", "1"})
FALSE = frozenset({"false", "no", "off", "0"})
RELATIONSHIPS = tuple(relationship.value for relationship in Relationship)


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def format(self, path: Path | str) -> str:
        return f"{path}:{self.line}: {self.message}"


@dataclass
class ContactRows:
    """What a file holds: the valid contacts (each with the fields its row gave) and the errors of the others."""

    contacts: list[Contact] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def format_of(path: Path) -> Format:
    """The file's format, from its extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ValueError(f"{path}: expected a .csv, .yaml or .yml file")


def read_contacts(path: Path, *, personas: Collection[str] | None = None) -> ContactRows:
    """Read and validate every row of the file; `personas`: the names a row may use (None: any)."""
    return parse_contacts(path.read_text(encoding="utf-8-sig"), format_of(path), personas=personas)


def parse_contacts(text: str, fmt: Format, *, personas: Collection[str] | None = None) -> ContactRows:
    rows = _csv_rows(text) if fmt == "csv" else _yaml_rows(text)
    result = ContactRows()
    first_line: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, RowError):
            result.errors.append(row)
            continue
        try:
            contact = contact_from_row(row, personas=personas)
        except RowInvalid as invalid:
            result.errors.append(RowError(line, "; ".join(invalid.problems)))
            continue
        if contact.id in first_line:
            result.errors.append(RowError(line, f"number {contact.phone} is also on line {first_line[contact.id]}"))
            continue
        first_line[contact.id] = line
        result.contacts.append(contact)
    return result


class RowInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def contact_from_row(row: Mapping[str, Any], *, personas: Collection[str] | None = None) -> Contact:
    """The contact a row describes, with only the fields the row gives set; RowInvalid lists every problem."""
    problems: list[str] = []
    unknown = [str(key) for key in row if key not in COLUMNS]
    if unknown:
        problems.append(f"unknown field {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    fields: dict[str, Any] = {}
    number = None
    if not _given(row.get("number")):
        problems.append("number is missing")
    else:
        try:
            number = normalize_number(_text(row["number"]) or "")
        except ValueError as error:
            problems.append(str(error))
    for name in TEXT_FIELDS:
        if name in row:
            _parse(name, row[name], _checked_text, fields, problems)
    if "relationship" in row:
        _parse("relationship", row["relationship"], _relationship, fields, problems)
    if "persona" in row:
        _parse("persona", row["persona"], lambda value: _persona(value, personas), fields, problems)
    if "tags" in row:
        _parse("tags", row["tags"], _tags, fields, problems)
    if _given(row.get("priority")):
        _parse("priority", row["priority"], _integer, fields, problems)
    for name in FLAGS:
        if _given(row.get(name)):
            _parse(name, row[name], _boolean, fields, problems)
    if problems or number is None:
        raise RowInvalid(problems)
    # Only the given fields are set, so an import leaves the others of an existing contact as they are.
    return Contact(id=chat_id_of(number), phone=number, **fields)


def _parse(name: str, value: Any, parse: Any, fields: dict[str, Any], problems: list[str]) -> None:
    try:
        fields[name] = parse(value)
    except ValueError as error:
        problems.append(f"{name}: {error}")


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str | None:
    """The value as text, None when empty; numbers count as text (YAML reads 15551234567 as one)."""
    if value is None:
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value).strip() or None
    raise ValueError(f"expected text, got {value!r}")


def _checked_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return _text(value)


def _relationship(value: Any) -> Relationship | None:
    text = _checked_text(value)
    if text is None:
        return None
    if text.lower() not in RELATIONSHIPS:
        raise ValueError(f"expected one of {', '.join(RELATIONSHIPS)}, got {text!r}")
    return Relationship(text.lower())


def _persona(value: Any, personas: Collection[str] | None) -> str | None:
    text = _checked_text(value)
    if text is not None and personas is not None and text not in personas:
        known = ", ".join(sorted(personas)) or "none"
        raise ValueError(f"no persona {text!r} (known: {known})")
    return text


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"expected tags separated by commas, got {value!r}")
    return list(dict.fromkeys(tag.strip() for tag in items if tag.strip()))


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"expected true/false, yes/no, on/off or 1/0, got {value!r}")


def _csv_rows(text: str) -> list[tuple[int, dict[str, str] | RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str] | RowError]] = []
    end_of_previous = 0
    try:
        for cells in reader:
            line, end_of_previous = end_of_previous + 1, reader.line_num  # a quoted cell may span lines
            if not cells or not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                unknown = [name for name in header if name not in COLUMNS]
                if unknown or "number" not in header:
                    problem = f"unknown column {', '.join(unknown)}" if unknown else "no number column"
                    # A wrong header makes every row doubtful: nothing is read.
                    return [(line, RowError(line, f"{problem} (columns: {', '.join(COLUMNS)})"))]
                continue
            if len(cells) > len(header):
                rows.append((line, RowError(line, f"{len(cells)} cells, but the header has {len(header)} columns")))
                continue
            rows.append((line, dict(zip(header, cells, strict=False))))
    except csv.Error as error:
        rows.append((reader.line_num, RowError(reader.line_num, f"not valid CSV ({error})")))
    return rows


def _yaml_rows(text: str) -> list[tuple[int, dict[str, Any] | RowError]]:
    loader = yaml.SafeLoader(text)
    try:
        document = loader.get_single_node()
        if document is None:
            return []
        if not isinstance(document, yaml.SequenceNode):
            line = document.start_mark.line + 1
            return [(line, RowError(line, "expected a list of contacts (items starting with '- number: ...')"))]
        rows: list[tuple[int, dict[str, Any] | RowError]] = []
        for item in document.value:
            line = item.start_mark.line + 1
            value = loader.construct_object(item, deep=True)
            if isinstance(value, dict):
                rows.append((line, {str(key): field for key, field in value.items()}))
            else:
                rows.append((line, RowError(line, "expected a contact (number: ..., name: ...)")))
        return rows
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        return [(line, RowError(line, f"not valid YAML ({error.problem})"))]
    finally:
        loader.dispose()


def row_of(contact: Contact) -> dict[str, Any]:
    """The contact as a file row: the operator's fields, not what the bot keeps (counters, style, pauses)."""
    return {
        "number": f"+{contact.phone}",
        "name": contact.name,
        "relationship": contact.relationship.value if contact.relationship else None,
        "persona": contact.persona,
        "tags": list(contact.tags),
        "priority": contact.priority,
        "auto_reply": contact.auto_reply,
        "blocked": contact.blocked,
        "notes": contact.notes,
        "instructions": contact.instructions,
    }


def write_contacts(contacts: Iterable[Contact], fmt: Format) -> str:
    """The contacts in the import format, so that the text imports back to the same contacts."""
    rows = [row_of(contact) for contact in contacts]
    if fmt == "yaml":
        items = [{key: value for key, value in row.items() if value is not None} for row in rows]
        return yaml.safe_dump(items, sort_keys=False, allow_unicode=True, width=120) if items else "[]\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[name]) for name in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)
