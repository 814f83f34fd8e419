"""How the operator talks to each kind of person, before any instruction of theirs: warm and casual with family,
precise and professional with clients. The persona's and the contact's own instructions override these."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.models import Relationship


@dataclass(frozen=True, slots=True)
class RelationshipDefaults:
    tone: str
    formality: str
    emoji: str
    length: str


_DEFAULTS = {
    Relationship.FAMILY: RelationshipDefaults(
        tone="warm, affectionate and relaxed, as with a relative",
        formality="casual; first names and nicknames are fine",
        emoji="welcome, as in a family chat",
        length="short, like a quick message home",
    ),
    Relationship.FRIEND: RelationshipDefaults(
        tone="friendly and easy-going",
        formality="casual",
        emoji="fine, in moderation",
        length="short and chatty",
    ),
    Relationship.CLIENT: RelationshipDefaults(
        tone="professional, courteous and precise",
        formality="formal; polite forms of address, no slang",
        emoji="none",
        length="complete but concise: the facts they need, nothing more",
    ),
    Relationship.COLLEAGUE: RelationshipDefaults(
        tone="friendly and professional",
        formality="neutral",
        emoji="rarely, at most one",
        length="brief and to the point",
    ),
    Relationship.LEAD: RelationshipDefaults(
        tone="welcoming, helpful and clear, without pressure",
        formality="polite, moderately formal",
        emoji="none, or one at most",
        length="short, with a clear next step",
    ),
    Relationship.OTHER: RelationshipDefaults(
        tone="polite and helpful",
        formality="neutral until you know them better",
        emoji="none",
        length="short",
    ),
}


def defaults_for(relationship: Relationship | None) -> RelationshipDefaults:
    """The defaults for a relationship; someone the operator has not described is treated as OTHER."""
    return _DEFAULTS[relationship or Relationship.OTHER]
