"""Contact files: every row checked, each error with the line it is on (CSV and YAML), and a lossless export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bot.storage import Contact
from bot.tools.contact_files import format_of, parse_contacts, read_contacts, write_contacts

PERSONAS = {"assistant", "support"}


def test_a_valid_csv_row_sets_only_its_columns() -> None:
    text = 'number,name,tags,auto_reply\n+1 555 123-4567,Ana,"family, kids",off\n'
    rows = parse_contacts(text, "csv", personas=PERSONAS)
    assert rows.errors == []
    [ana] = rows.contacts
    assert (ana.id, ana.phone, ana.name, ana.tags, ana.auto_reply) == (
        "15551234567@c.us",
        "15551234567",
        "Ana",
        ["family", "kids"],
        False,
    )
    assert ana.model_fields_set == {"id", "phone", "name", "tags", "auto_reply"}


def test_each_bad_csv_row_is_reported_with_its_line() -> None:
    text = (
        "number,name,relationship,persona,priority,blocked,notes\n"
        "15551234567,Ana,family,,1,no,\n"
        "\n"  # a blank line still counts
        "555,Bad number,,,,,\n"
        '15557654321,Ben,client,support,2,yes,"two\nlines"\n'  # a quoted cell spanning lines
        "15559876543,Caro,sister,nobody,high,maybe,\n"
        "15551234567,Ana again,,,,,\n"
        "15550000000,Too,many,cells,,,,,\n"
        '15550001111,Dan,,,,maybe,"a bad row\nover two lines"\n'  # reported on the line it starts on
        "15550002222,Eve,,,,,\n"
    )
    rows = parse_contacts(text, "csv", personas=PERSONAS)
    assert [contact.name for contact in rows.contacts] == ["Ana", "Ben", "Eve"]
    errors = {error.line: error.message for error in rows.errors}
    assert sorted(errors) == [4, 7, 8, 9, 10]
    assert "phone number" in errors[4]
    for part in ("relationship: expected one of", "persona: no persona 'nobody'", "priority", "blocked"):
        assert part in errors[7]
    assert "also on line 2" in errors[8]
    assert "header has 7 columns" in errors[9]


def test_a_wrong_header_rejects_the_file() -> None:
    rows = parse_contacts("number,nickname\n15551234567,Ana\n", "csv")
    assert rows.contacts == [] and [(e.line, "unknown column nickname" in e.message) for e in rows.errors] == [
        (1, True)
    ]
    assert "no number column" in parse_contacts("name\nAna\n", "csv").errors[0].message


def test_a_thousand_row_csv_with_three_bad_rows_reports_exactly_those(tmp_path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "name", "relationship", "persona", "priority", "auto_reply", "tags"])
    bad = {137: ("1555x", "client"), 501: ("15550000501", "boss"), 998: ("15550000998", "client")}
    for row in range(1, 1001):
        number, relationship = bad.get(row, (f"1555{row:07d}", "client"))
        priority = "soon" if row == 998 else str(row % 3)
        writer.writerow([number, f"Contact {row}", relationship, "support", priority, "on", "bulk"])
    path = tmp_path / "contacts.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    rows = read_contacts(path, personas=PERSONAS)
    # Row n of the data is on line n + 1 (the header is line 1).
    assert [error.line for error in rows.errors] == [138, 502, 999]
    assert [error.format(path).split(": ")[0] for error in rows.errors] == [
        f"{path}:138",
        f"{path}:502",
        f"{path}:999",
    ]
    assert len(rows.contacts) == 997


def test_yaml_errors_carry_the_line_of_their_item() -> None:
    text = (
        "# contacts\n"
        "- number: 15551234567\n"  # YAML reads this as a number
        "  name: Ana\n"
        "  tags: [family]\n"
        "- number: '+15557654321'\n"
        "  relationship: client\n"
        "  priority: 1.5\n"
        "- name: No number\n"
        "- just text\n"
        "- number: '+15559876543'\n"
        "  auto_reply: false\n"
        "  favourite: tea\n"
    )
    rows = parse_contacts(text, "yaml", personas=PERSONAS)
    assert [contact.name for contact in rows.contacts] == ["Ana"]
    errors = {error.line: error.message for error in rows.errors}
    assert sorted(errors) == [5, 8, 9, 10]
    assert "priority: expected a whole number" in errors[5]
    assert "number is missing" in errors[8]
    assert "expected a contact" in errors[9]
    assert "unknown field favourite" in errors[10]


def test_broken_yaml_and_a_file_that_is_no_list() -> None:
    [error] = parse_contacts("- number: 1\n  name: [unclosed\n", "yaml").errors
    assert error.line >= 2 and "not valid YAML" in error.message
    [error] = parse_contacts("number: 15551234567\n", "yaml").errors
    assert (error.line, "expected a list" in error.message) == (1, True)
    assert parse_contacts("", "yaml").errors == []


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_an_export_reads_back_to_the_same_contacts(fmt: str) -> None:
    contacts = [
        Contact(
            id="15551234567@c.us",
            phone="15551234567",
            name='Ana, "the sister"',
            relationship="family",
            tags=["family", "kids"],
            priority=-1,
            notes="line one\nline two: with a colon",
            instructions="answer in Spanish",
        ),
        Contact(id="15557654321@c.us", phone="15557654321", persona="support", auto_reply=False, blocked=True),
    ]
    text = write_contacts(contacts, fmt)  # type: ignore[arg-type]
    rows = parse_contacts(text, fmt, personas=PERSONAS)  # type: ignore[arg-type]
    assert rows.errors == []
    fields = ("id", "phone", "name", "relationship", "persona", "tags", "priority", "auto_reply", "blocked", "notes")
    assert [[getattr(c, f) for f in fields] for c in rows.contacts] == [
        [getattr(c, f) for f in fields] for c in contacts
    ]
    assert rows.contacts[0].instructions == "answer in Spanish"


def test_format_of_the_extension() -> None:
    assert [format_of(Path(name)) for name in ("a.csv", "b.YAML", "c.yml")] == ["csv", "yaml", "yaml"]
    with pytest.raises(ValueError, match="expected a .csv"):
        format_of(Path("contacts.xlsx"))


def test_the_demo_contacts_are_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "config" / "demo" / "contacts.yaml"
    rows = read_contacts(path, personas=PERSONAS)
    assert rows.errors == []
    assert [(c.phone, c.name, c.relationship) for c in rows.contacts] == [
        ("15551234567", "Ana", "family"),
        ("15557654321", "Ben", "client"),
        ("15559876543", "Caro", "colleague"),
    ]
    assert rows.contacts[1].persona == "support" and "Maria's sister" in (rows.contacts[0].notes or "")
