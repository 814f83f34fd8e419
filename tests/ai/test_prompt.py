"""The prompt carries the persona, what is known of the contact, and only this contact's messages, each one
cleaned and bounded whatever the contact sent."""

from __future__ import annotations

import pytest

from bot.ai import Turn, build_prompt
from bot.ai.prompt import CUT_MARK, cap_text, clean_text, well_formed
from bot.storage import Contact, Direction, Message, MessageStatus, Persona

PERSONA = Persona(id="default", instructions="Be kind.")
ANA = Contact(id="ana@c.us", phone="15551234567", push_name="Ana P", name="Ana", relationship="sister", notes="vegan")


def message(
    text: str,
    *,
    direction: Direction = Direction.INBOUND,
    status: MessageStatus | None = None,
    contact_id: str = "ana@c.us",
    kind: str = "chat",
) -> Message:
    default = MessageStatus.RECEIVED if direction is Direction.INBOUND else MessageStatus.SENT
    return Message(contact_id=contact_id, direction=direction, status=status or default, text=text, kind=kind)


def test_system_instruction_has_persona_and_contact() -> None:
    prompt = build_prompt(PERSONA, ANA, [], message("hi"))
    assert prompt.system_instruction.startswith("Be kind.")
    for fact in ("Ana", "+15551234567", "Ana P", "sister", "vegan"):
        assert fact in prompt.system_instruction
    assert prompt.turns == (Turn("user", "hi"),)


def test_unknown_contact_is_named_by_phone() -> None:
    stranger = Contact(id="1@c.us", phone="1")
    prompt = build_prompt(PERSONA, stranger, [], message("hi", contact_id="1@c.us"))
    assert "chatting on WhatsApp with 1 (phone +1)" in prompt.system_instruction
    assert "Who they are" not in prompt.system_instruction


def test_history_becomes_alternating_turns_without_unsent_replies() -> None:
    history = [
        message("one"),
        message("two"),
        message("reply", direction=Direction.OUTBOUND),
        message("never delivered", direction=Direction.OUTBOUND, status=MessageStatus.FAILED),
    ]
    prompt = build_prompt(PERSONA, ANA, history, message("three"))
    assert prompt.turns == (Turn("user", "one\ntwo"), Turn("model", "reply"), Turn("user", "three"))


def test_another_contacts_message_is_refused() -> None:
    with pytest.raises(ValueError, match="another contact"):
        build_prompt(PERSONA, ANA, [message("ben's words", contact_id="ben@c.us")], message("hi"))


def test_a_huge_message_is_stored_whole_but_capped_in_the_prompt() -> None:
    huge = message("word " * 13_108)  # 64 KB
    assert len(huge.text) == 65_540  # the stored message keeps everything
    prompt = build_prompt(PERSONA, ANA, [huge, message("ok", direction=Direction.OUTBOUND)], huge)
    first, _, last = prompt.turns
    for turn in (first, last):
        assert turn.text.endswith(CUT_MARK) and turn.text.startswith("word word")
        assert len(turn.text) <= 4000 + len(CUT_MARK) + 1
    small = build_prompt(PERSONA, ANA, [], huge, max_message_chars=500)
    assert len(small.turns[0].text) <= 500 + len(CUT_MARK) + 1


def test_history_cannot_grow_the_prompt_past_its_bound() -> None:
    history = [message("y" * 65_536) for _ in range(20)]
    prompt = build_prompt(PERSONA, ANA, history, message("z" * 65_536), max_message_chars=1000)
    assert sum(len(turn.text) for turn in prompt.turns) <= 21 * (1000 + len(CUT_MARK) + 2)


def test_a_cut_keeps_the_start_and_prefers_a_word_boundary() -> None:
    assert cap_text("short", 10) == "short"
    assert cap_text("x" * 20, 10) == "x" * 10 + " " + CUT_MARK
    assert cap_text("alpha beta gamma delta", 13) == f"alpha beta {CUT_MARK}"


@pytest.mark.parametrize(
    "text",
    [
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0643",  # Arabic, right to left
        "\u05e9\u05dc\u05d5\u05dd \u200fok\u200e!",  # Hebrew with direction marks inside
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # an emoji joined with zero-width joiners
        "\u2764\ufe0f",  # a heart with its emoji presentation selector
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # a flag made of tags
        "caf\u00e9 \u4f60\u597d \U0001f600",
    ],
)
def test_emoji_and_right_to_left_text_pass_through_unchanged(text: str) -> None:
    assert clean_text(text) == text
    assert build_prompt(PERSONA, ANA, [], message(text)).turns == (Turn("user", text),)


def test_invisible_padding_controls_and_odd_newlines_are_cleaned() -> None:
    assert clean_text("\u200b\ufeff  hi there \u200d\u3164\n") == "hi there"
    assert clean_text("line one\r\nline two\rthree\u2028four") == "line one\nline two\nthree\nfour"
    assert clean_text("bell\x07 and nul\x00 gone\ttab kept") == "bell and nul gone\ttab kept"
    assert clean_text("\u200b\u200c\u2060 \u3164") == ""


def test_lone_surrogates_become_replacement_characters() -> None:
    assert well_formed("ok \ud83d") == "ok \ufffd"
    assert well_formed("\ud83d\ude00") == "\U0001f600"  # a pair as JavaScript splits it is one emoji
    clean_text("\ud83d broken").encode("utf-8")  # encodable, so the HTTP client and the database accept it


def test_attachments_are_named_with_their_caption() -> None:
    history = [message("", kind="ptt"), message("", direction=Direction.OUTBOUND), message("\u200b")]
    prompt = build_prompt(PERSONA, ANA, history, message("is this the right part?", kind="image"))
    # The empty reply and the zero-width message add nothing; the burst becomes one user turn.
    assert prompt.turns == (Turn("user", "[voice note]\n[image] is this the right part?"),)
    assert "[image]" in prompt.system_instruction


def test_an_empty_incoming_message_never_makes_an_empty_turn() -> None:
    assert build_prompt(PERSONA, ANA, [], message("  \u200b ")).turns == (Turn("user", "[an empty message]"),)


def test_a_name_cannot_flood_the_system_instruction() -> None:
    noisy = Contact(id="ana@c.us", phone="15551234567", push_name="\u200b" + "A" * 10_000 + "\x07")
    prompt = build_prompt(PERSONA, noisy, [], message("hi"))
    assert len(prompt.system_instruction) < 1000 and "\x07" not in prompt.system_instruction
