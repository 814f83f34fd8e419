"""Building the prompt for one reply: persona, what the bot knows of this contact, and this contact's own
recent messages. Nothing from any other conversation may enter here: the inputs are one contact's data.

Texts are stored exactly as they came; here they are made safe to show a model: newlines normalised, control
characters and invisible padding dropped, and each message cut to a bounded length, so a 64 KB message (or a
history of them) cannot blow up a prompt.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot.storage.models import GONE_OUT, Contact, Direction, Message, Persona

Role = Literal["user", "model"]

DEFAULT_MAX_MESSAGE_CHARS = 4000
CUT_MARK = "[... cut ...]"
# A cut prefers a word boundary this close to the limit, so a long message does not end mid-word.
_CUT_SLACK = 200
# WhatsApp names are short; anything longer is noise that would crowd out the conversation.
_MAX_NAME_CHARS = 100

# Characters that show nothing: zero-width spaces and joiners, direction marks and embeddings, the byte order
# mark, and the blank "filler" letters people use to send an empty-looking message. Variation selectors and tag
# characters are not here: they belong to the emoji before them and are kept.
ZERO_WIDTH = frozenset(
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")

# How an attachment is named to the model, which sees only its caption.
MEDIA_LABELS = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "ptt": "voice note",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "vcard": "contact card",
    "multi_vcard": "contact cards",
    "poll_creation": "poll",
}


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    system_instruction: str
    turns: tuple[Turn, ...]


def well_formed(text: str) -> str:
    """Lone UTF-16 surrogates (a JavaScript string cut mid-emoji) become U+FFFD; pairs become their character.

    Such a string cannot be encoded as UTF-8, so it would fail in the database driver or the HTTP client.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def is_invisible(char: str) -> bool:
    """Whitespace, zero-width and direction marks, blank filler letters: nothing a reader sees."""
    return char.isspace() or char in ZERO_WIDTH or char in BLANK_LETTERS


def clean_text(text: str) -> str:
    """A message's text as a model should get it: well-formed, newlines as \\n, no control characters, and no
    invisible characters at either end. Inside the text nothing visible changes: emoji (with their joiners),
    right-to-left text and marks between words are kept."""
    text = well_formed(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = "".join(char for char in text if char in "\n\t" or unicodedata.category(char) != "Cc")
    start, end = 0, len(text)
    while start < end and is_invisible(text[start]):
        start += 1
    while end > start and is_invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def cap_text(text: str, max_chars: int) -> str:
    """The start of `text`, at most `max_chars` characters of it, with CUT_MARK when something was cut."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    boundary = max(head.rfind(" "), head.rfind("\n"))
    if boundary > 0 and boundary >= max_chars - _CUT_SLACK:
        head = head[:boundary]
    return f"{head.rstrip()} {CUT_MARK}"


def message_text(message: Message, max_chars: int = DEFAULT_MAX_MESSAGE_CHARS) -> str:
    """What the model reads for one message: its cleaned, capped text; an attachment is named before its caption."""
    text = cap_text(clean_text(message.text), max_chars)
    if message.kind == "chat":
        return text
    label = f"[{MEDIA_LABELS.get(message.kind, 'attachment')}]"
    return f"{label} {text}" if text else label


def build_prompt(
    persona: Persona,
    contact: Contact,
    history: list[Message],
    incoming: Message,
    *,
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
) -> Prompt:
    """Assemble the prompt; `history` must be the same contact's earlier messages, oldest first.

    `max_message_chars` (setting PROMPT_MESSAGE_MAX_CHARS) bounds each message, in the history too.
    """
    for message in (*history, incoming):
        if message.contact_id != contact.id:
            raise ValueError(f"message {message.id} belongs to another contact than {contact.id}")
    return Prompt(
        system_instruction=_system_instruction(persona, contact),
        turns=_turns(history, incoming, max_message_chars),
    )


def _name(value: str) -> str:
    return cap_text(clean_text(value), _MAX_NAME_CHARS)


def _system_instruction(persona: Persona, contact: Contact) -> str:
    about = [f"You are chatting on WhatsApp with {_name(contact.display_name)} (phone +{contact.phone})."]
    if contact.push_name and contact.push_name != contact.display_name:
        about.append(f"Their WhatsApp profile name is {_name(contact.push_name)}.")
    if contact.relationship:
        about.append(f"Who they are to the owner of this number: {contact.relationship}.")
    if contact.notes:
        about.append(f"What the owner noted about them: {contact.notes}")
    rules = (
        "Answer their latest message. Reply in the language they write in. "
        "Write only the text of your WhatsApp reply. "
        "A message starting with a tag such as [image] or [voice note] came with an attachment you cannot see; "
        "only its caption, if any, follows the tag."
    )
    return "\n\n".join([persona.instructions.strip(), " ".join(about), rules])


def _turns(history: list[Message], incoming: Message, max_chars: int) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    for message in (*history, incoming):
        if message.direction is Direction.OUTBOUND and message.status not in GONE_OUT:
            continue  # a reply the contact never saw is not part of the conversation
        text = message_text(message, max_chars)
        if not text:
            if message is not incoming:
                continue  # an empty message (whitespace, zero-width) adds nothing to the conversation
            text = "[an empty message]"  # a model refuses an empty turn
        role: Role = "user" if message.direction is Direction.INBOUND else "model"
        if turns and turns[-1].role == role:
            # Gemini expects alternating roles; a burst of messages becomes one turn.
            turns[-1] = Turn(role, f"{turns[-1].text}\n{text}")
        else:
            turns.append(Turn(role, text))
    return tuple(turns)
