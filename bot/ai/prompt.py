"""Building the prompt for one reply: persona, what the bot knows of this contact, and this contact's own
recent messages. Nothing from any other conversation may enter here: the inputs are one contact's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.storage.models import GONE_OUT, Contact, Direction, Message, Persona

Role = Literal["user", "model"]


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    system_instruction: str
    turns: tuple[Turn, ...]


def build_prompt(persona: Persona, contact: Contact, history: list[Message], incoming: Message) -> Prompt:
    """Assemble the prompt; `history` must be the same contact's earlier messages, oldest first."""
    for message in (*history, incoming):
        if message.contact_id != contact.id:
            raise ValueError(f"message {message.id} belongs to another contact than {contact.id}")
    return Prompt(system_instruction=_system_instruction(persona, contact), turns=_turns(history, incoming))


def _system_instruction(persona: Persona, contact: Contact) -> str:
    about = [f"You are chatting on WhatsApp with {contact.display_name} (phone +{contact.phone})."]
    if contact.push_name and contact.push_name != contact.display_name:
        about.append(f"Their WhatsApp profile name is {contact.push_name}.")
    if contact.relationship:
        about.append(f"Who they are to the owner of this number: {contact.relationship}.")
    if contact.notes:
        about.append(f"What the owner noted about them: {contact.notes}")
    rules = (
        "Answer their latest message. Reply in the language they write in. "
        "Write only the text of your WhatsApp reply."
    )
    return "\n\n".join([persona.instructions.strip(), " ".join(about), rules])


def _turns(history: list[Message], incoming: Message) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    for message in (*history, incoming):
        if message.direction is Direction.OUTBOUND and message.status not in GONE_OUT:
            continue  # a reply the contact never saw is not part of the conversation
        role: Role = "user" if message.direction is Direction.INBOUND else "model"
        if turns and turns[-1].role == role:
            # Gemini expects alternating roles; a burst of messages becomes one turn.
            turns[-1] = Turn(role, f"{turns[-1].text}\n{message.text}")
        else:
            turns.append(Turn(role, message.text))
    return tuple(turns)
