"""Who gets answered: one pure decision per message, every rule and its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.pipeline.policy import (
    TAKEOVER_REASON,
    Action,
    AnswerRules,
    Decision,
    MessageFacts,
    decide,
    is_blank,
    looks_binary,
    takeover_until,
)
from bot.settings import Settings, SettingsError, load_settings
from bot.storage import Contact, Direction, Message, MessageStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANA = "15551234567"
RULES = AnswerRules()


def facts(text: str = "hello", **fields: object) -> MessageFacts:
    return MessageFacts.model_validate({"phone": ANA, "text": text, **fields})


def contact(**fields: object) -> Contact:
    return Contact.model_validate({"_id": f"{ANA}@c.us", "phone": ANA, **fields})


def test_a_contacts_text_is_answered_known_or_not() -> None:
    assert decide(facts(), None, RULES, NOW) == Decision.answer()
    assert decide(facts(), contact(), RULES, NOW).action is Action.ANSWER


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        (contact(blocked=True), "blocked contact"),
        (contact(auto_reply=False), "auto-reply is off for this contact"),
        (contact(blocked=True, auto_reply=False), "blocked contact"),
    ],
)
def test_blocked_and_auto_reply_off_contacts_are_skipped(who: Contact, reason: str) -> None:
    assert decide(facts(), who, RULES, NOW) == Decision.skip(reason)


def test_a_paused_contact_is_skipped_until_the_pause_ends() -> None:
    until = NOW + timedelta(minutes=30)
    paused = contact(paused_until=until, pause_reason=TAKEOVER_REASON)
    decision = decide(facts(), paused, RULES, NOW)
    assert decision.action is Action.SKIP
    assert decision.reason == f"paused until 2026-11-22T12:30:00+00:00: {TAKEOVER_REASON}"
    assert decide(facts(), paused, RULES, until).action is Action.ANSWER  # the pause has ended
    assert decide(facts(), contact(paused_until=until), RULES, NOW).reason == "paused until 2026-11-22T12:30:00+00:00"


def test_own_messages_are_never_answered() -> None:
    assert decide(facts(from_me=True), None, RULES, NOW) == Decision.skip("own message")


def test_allowlist_mode_answers_only_listed_numbers() -> None:
    rules = AnswerRules(answer_only=frozenset({ANA}))
    assert decide(facts(), None, rules, NOW).action is Action.ANSWER
    assert decide(facts().model_copy(update={"phone": "15559990000"}), None, rules, NOW) == Decision.skip(
        "not in ANSWER_ONLY"
    )
    # A contact who writes from a linked id (LID) is recognised by the number stored for them.
    lid = facts().model_copy(update={"phone": "98765432101234"})
    assert decide(lid, contact(), rules, NOW).action is Action.ANSWER
    # The allowlist never overrides a block.
    assert decide(facts(), contact(blocked=True), rules, NOW).reason == "blocked contact"


def test_groups_need_the_setting_and_a_mention_of_this_number() -> None:
    mentioned = facts(is_group=True, mentions_me=True)
    assert decide(mentioned, None, RULES, NOW) == Decision.skip("group message (ANSWER_GROUPS is off)")
    groups = AnswerRules(answer_groups=True)
    assert decide(mentioned, None, groups, NOW).action is Action.ANSWER
    assert decide(facts(is_group=True), None, groups, NOW) == Decision.skip(
        "group message that does not mention this number"
    )
    # In allowlist mode, the author of a group message must be listed.
    strict = AnswerRules(answer_groups=True, answer_only=frozenset({"15559990000"}))
    assert decide(mentioned, None, strict, NOW).reason == "not in ANSWER_ONLY"


@pytest.mark.parametrize(
    ("kind", "caption", "action", "reply"),
    [
        ("chat", "hello", Action.ANSWER, None),
        ("image", "", Action.ANSWER, None),  # the model sees the image
        ("image", "is this the right part?", Action.ANSWER, None),
        ("video", "", Action.POLITE, RULES.media_reply),
        ("video", "watch from 0:30", Action.ANSWER, None),  # the caption is answered as text
        ("audio", "", Action.POLITE, RULES.media_reply),
        ("ptt", "", Action.POLITE, RULES.media_reply),
        ("document", "", Action.POLITE, RULES.media_reply),
        ("document", "the invoice", Action.ANSWER, None),
        ("vcard", "", Action.POLITE, RULES.media_reply),
        ("multi_vcard", "", Action.POLITE, RULES.media_reply),
        ("location", "", Action.POLITE, RULES.location_reply),
        ("sticker", "", Action.SKIP, None),
    ],
)
def test_what_each_message_type_gets(kind: str, caption: str, action: Action, reply: str | None) -> None:
    decision = decide(facts(caption, kind=kind), None, RULES, NOW)
    assert (decision.action, decision.reply) == (action, reply)


@pytest.mark.parametrize("kind", ["video", "audio", "ptt", "document", "vcard"])
def test_media_the_model_cannot_see_gets_the_polite_reply_or_is_skipped(kind: str) -> None:
    decision = decide(facts("", kind=kind), None, RULES, NOW)
    assert decision == Decision.polite(f"{kind} without a caption", RULES.media_reply)
    skipping = AnswerRules(media_policy="skip")
    assert decide(facts("", kind=kind), None, skipping, NOW) == Decision.skip(f"{kind} without a caption")
    # A caption made only of invisible characters is no caption.
    assert decide(facts(" \u200b", kind=kind), None, skipping, NOW).action is Action.SKIP


def test_the_personas_media_reply_replaces_media_reply() -> None:
    voice = facts("", kind="ptt")
    persona_reply = "Voice notes reach me later; could you type it?"
    assert decide(voice, None, RULES, NOW, media_reply=persona_reply) == Decision.polite(
        "ptt without a caption", persona_reply
    )
    # A persona without one (or a blank one) leaves MEDIA_REPLY; MEDIA_POLICY=skip still wins.
    for blank in (None, "", " \u200b"):
        assert decide(voice, None, RULES, NOW, media_reply=blank).reply == RULES.media_reply
    assert decide(voice, None, AnswerRules(media_policy="skip"), NOW, media_reply=persona_reply).action is Action.SKIP
    # A location has its own acknowledgement, and an image goes to the model whatever the persona says.
    assert decide(facts("", kind="location"), None, RULES, NOW, media_reply=persona_reply).reply == RULES.location_reply
    assert decide(facts("", kind="image"), None, RULES, NOW, media_reply=persona_reply) == Decision.answer()


def test_a_location_is_acknowledged_or_left_for_the_operator() -> None:
    rules = AnswerRules(location_reply="Got your pin, thanks!")
    assert decide(facts("", kind="location"), None, rules, NOW) == Decision.polite(
        "shared location", "Got your pin, thanks!"
    )
    assert decide(facts("", kind="location"), None, AnswerRules(media_policy="skip"), NOW) == Decision.skip(
        "shared location"
    )


def test_images_are_answered_with_or_without_a_caption_and_stickers_never() -> None:
    for rules in (RULES, AnswerRules(media_policy="skip")):
        assert decide(facts("is this the right part?", kind="image"), None, rules, NOW).action is Action.ANSWER
        assert decide(facts("", kind="image"), None, rules, NOW) == Decision.answer()
        assert decide(facts("", kind="sticker"), None, rules, NOW) == Decision.skip("sticker (never answered)")
    # Who is asked first still: an image in a group that does not mention the bot is not answered.
    groups = AnswerRules(answer_groups=True)
    assert decide(facts("", kind="image", is_group=True), None, groups, NOW).action is Action.SKIP
    assert decide(facts("", kind="image", is_group=True, mentions_me=True), None, groups, NOW).action is Action.ANSWER


def test_media_with_a_caption_is_answered_as_text() -> None:
    for rules in (RULES, AnswerRules(media_policy="skip")):
        for kind in ("video", "document"):
            assert decide(facts("is this the right part?", kind=kind), None, rules, NOW).action is Action.ANSWER


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t  \r\n", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u200e\u200f", "\u3164", "\u2800 \ufe0f"],
)
def test_empty_whitespace_and_zero_width_texts_are_skipped(text: str) -> None:
    assert is_blank(text)
    assert decide(facts(text), None, RULES, NOW) == Decision.skip("empty text")


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02\x03\x04binary",
        "\ufffd\ufffd\ufffdPNG\x1a\ufffd\ufffd",
        "\ue000\ue001\ue002\ue003",  # private use only
        bytes(range(256)).decode("utf-8", "replace"),
    ],
)
def test_binary_looking_text_is_skipped(text: str) -> None:
    assert looks_binary(text)
    assert decide(facts(text), None, RULES, NOW) == Decision.skip("binary-looking text")


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f600\U0001f44d",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u0645\u0631\u062d\u0628\u0627",  # Arabic
        "\u05e9\u05dc\u05d5\u05dd \u200fok",  # Hebrew with a direction mark
        "\u4f60\u597d",
        "caf\ufffd au lait, please",  # one broken character in a sentence
        "\U0001fae8 a newer emoji than Python knows",
        "x" * 65_536,
    ],
)
def test_emoji_rtl_and_huge_text_are_normal_text(text: str) -> None:
    assert not looks_binary(text) and not is_blank(text)
    assert decide(facts(text), None, RULES, NOW).action is Action.ANSWER


def test_who_is_asked_before_what() -> None:
    # A blocked contact's sticker is skipped as blocked: no polite reply to someone the operator blocked.
    assert decide(facts("", kind="sticker"), contact(blocked=True), RULES, NOW) == Decision.skip("blocked contact")
    assert decide(facts("", is_group=True), None, RULES, NOW).reason == "group message (ANSWER_GROUPS is off)"


def test_takeover_pauses_for_the_configured_time() -> None:
    assert takeover_until(RULES, NOW) == NOW + timedelta(seconds=1800)
    assert takeover_until(AnswerRules(takeover_pause_s=60), NOW) == NOW + timedelta(seconds=60)
    assert takeover_until(AnswerRules(takeover_pause_s=0), NOW) is None


def test_facts_of_a_stored_message() -> None:
    stored = Message(
        wa_id="false_1-2@g.us_X_15551234567@c.us",
        contact_id="1-2@g.us",
        direction=Direction.INBOUND,
        status=MessageStatus.RECEIVED,
        text="@15550000000 hi",
        wa_time=NOW,
        is_group=True,
        author=f"{ANA}@c.us",
        mentions_me=True,
    )
    assert MessageFacts.stored(stored) == facts("@15550000000 hi", is_group=True, mentions_me=True)


def test_rules_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    defaults = AnswerRules.from_settings(load_settings())
    assert defaults == AnswerRules()
    assert load_settings().prompt_message_max_chars == 4000
    monkeypatch.setenv("ANSWER_GROUPS", "true")
    monkeypatch.setenv("ANSWER_ONLY", "+1 555 123 4567, 447700900123,")
    monkeypatch.setenv("TAKEOVER_PAUSE_S", "600")
    monkeypatch.setenv("MEDIA_POLICY", "skip")
    monkeypatch.setenv("LOCATION_REPLY", "Got your pin!")
    rules = AnswerRules.from_settings(load_settings())
    assert rules == AnswerRules(
        answer_groups=True,
        answer_only=frozenset({ANA, "447700900123"}),
        takeover_pause_s=600,
        media_policy="skip",
        location_reply="Got your pin!",
    )
    assert load_settings().media_max_bytes == 5 * 1024 * 1024
    monkeypatch.setenv("MEDIA_MAX_BYTES", "-1")
    with pytest.raises(SettingsError, match="setting MEDIA_MAX_BYTES"):
        load_settings()
    monkeypatch.delenv("MEDIA_MAX_BYTES")
    monkeypatch.setenv("ANSWER_ONLY", "15551234567,bob")
    with pytest.raises(SettingsError, match="setting ANSWER_ONLY: expected phone numbers made of digits"):
        load_settings()
    monkeypatch.setenv("ANSWER_ONLY", "")
    monkeypatch.setenv("MEDIA_POLICY", "ignore")
    with pytest.raises(SettingsError, match="setting MEDIA_POLICY"):
        load_settings()
