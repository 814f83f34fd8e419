"""Each relationship has its own defaults; an undescribed contact is treated politely and neutrally."""

from __future__ import annotations

from bot.context.relationships import defaults_for
from bot.storage.models import Relationship


def test_every_relationship_has_distinct_defaults() -> None:
    defaults = {relationship: defaults_for(relationship) for relationship in Relationship}
    assert len(set(defaults.values())) == len(Relationship)


def test_family_is_warm_and_casual_and_a_client_formal_without_emoji() -> None:
    family, client = defaults_for(Relationship.FAMILY), defaults_for(Relationship.CLIENT)
    assert "warm" in family.tone and "casual" in family.formality and family.emoji != "none"
    assert "professional" in client.tone and "formal" in client.formality and client.emoji == "none"


def test_an_undescribed_contact_gets_the_defaults_for_other() -> None:
    assert defaults_for(None) == defaults_for(Relationship.OTHER)
