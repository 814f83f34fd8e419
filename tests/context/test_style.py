"""A contact's style is learned cheaply from each message: language, length, emoji and register."""

from __future__ import annotations

import time

import pytest

from bot.context.style import count_emoji, describe_style, detect_language, learn_style
from bot.storage.models import ContactStyle, Register


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hi, what time do you open tomorrow?", "en"),
        ("How much is the repair?", "en"),
        ("Hola, ¿a qué hora abren mañana?", "es"),
        ("¿Cuánto cuesta arreglar la bici?", "es"),
        ("Olá, a que horas vocês abrem amanhã?", "pt"),
        ("Quanto custa o conserto da bicicleta?", "pt"),
        ("Bonjour, à quelle heure ouvrez-vous demain ?", "fr"),
        ("Tu peux m'envoyer la facture s'il te plaît", "fr"),
        ("Hallo, wann öffnen Sie morgen?", "de"),
        ("Kannst du mir bitte die Rechnung schicken", "de"),
        ("Ciao, a che ora aprite domani?", "it"),
        ("Quanto costa la riparazione della bici?", "it"),
        ("Hallo, hoe laat gaan jullie morgen open?", "nl"),
        ("Hoeveel kost de reparatie van de fiets?", "nl"),
    ],
)
def test_language_is_detected(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["hi", "ok", "👍", "Hola", "jajaja", "", "12:30?"])
def test_short_texts_have_no_clear_language(text: str) -> None:
    assert detect_language(text) is None


def test_emoji_are_counted_as_a_reader_sees_them() -> None:
    assert count_emoji("no emoji here") == 0
    # a joined family, a flag (two letters), a heart with its selector, a thumb with a skin tone
    assert (
        count_emoji("\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1ea\U0001f1f8 \u2764\ufe0f \U0001f44d\U0001f3fd")
        == 4
    )


def learned(*texts: str) -> ContactStyle:
    style = None
    for text in texts:
        style = learn_style(style, text)
    assert style is not None
    return style


def test_a_casual_spanish_writer() -> None:
    style = learned("hola! jajaja 😂😂", "oye, ¿qué tal estás? 😊", "vale, nos vemos mañana 👍")
    assert style.language == "es" and style.formality is Register.CASUAL
    assert style.samples == 3 and style.emoji_per_message == pytest.approx(4 / 3)
    assert 15 < style.avg_chars < 30
    sentence = describe_style(style)
    assert sentence is not None and "Spanish" in sentence and "casually" in sentence and "plenty of emoji" in sentence


def test_a_formal_english_client() -> None:
    style = learned(
        "Dear Maria, could you please send me the invoice for the last repair? Kind regards, John Smith",
        "Thank you for your quick answer. I would appreciate it if the bike were ready by Friday.",
        "Good morning. Please confirm the appointment for tomorrow at ten. Sincerely, John",
    )
    assert style.language == "en" and style.formality is Register.FORMAL
    assert style.emoji_per_message == 0 and style.avg_chars > 80
    sentence = describe_style(style)
    assert sentence is not None and "English" in sentence and "formally" in sentence and "rarely with emoji" in sentence


def test_formal_and_familiar_you_tell_the_register_apart() -> None:
    assert learn_style(None, "Pourriez-vous me dire si vous êtes ouverts demain ?").formality is Register.FORMAL
    assert learn_style(None, "Tu peux me dire si tu es là demain ?").formality is Register.CASUAL
    assert learn_style(None, "Können Sie mir bitte sagen, wann Sie morgen öffnen?").formality is Register.FORMAL
    assert learn_style(None, "Kannst du mir sagen, wann du morgen da bist?").formality is Register.CASUAL


def test_one_odd_message_does_not_flip_the_register_or_the_language() -> None:
    style = learned("hey whats up lol", "yeah see u tomorrow", "haha ok")
    assert style.formality is Register.CASUAL and style.language == "en"
    style = learn_style(style, "Dear team,")  # one mild formal sign
    assert style.formality is Register.CASUAL
    style = learn_style(style, "ok")  # no clear language
    assert style.language == "en"
    style = learn_style(style, "Hola, ¿a qué hora abren mañana?")  # a clear switch is followed
    assert style.language == "es"


def test_recent_messages_weigh_more_once_there_are_many() -> None:
    style = learned(*["x" * 20] * 50)
    assert style.avg_chars == pytest.approx(20)
    style = learned(*["x" * 200] * 10)
    assert style.avg_chars == pytest.approx(200)
    changed = style
    for _ in range(10):
        changed = learn_style(changed, "x" * 20)
    assert changed.avg_chars < 100  # after ten short messages the long ones have mostly faded


def test_a_message_without_text_teaches_nothing() -> None:
    style = learned("hello there, how are you?")
    assert learn_style(style, "  ") == style


def test_too_few_samples_describe_nothing() -> None:
    assert describe_style(None) is None
    assert describe_style(learned("hello there", "how are you")) is None
    assert describe_style(learned("hello there", "how are you", "see you")) is not None


def test_learning_is_linear_in_the_text() -> None:
    text = "Hola, ¿qué tal? 😊 " * 20_000  # 340 K characters
    started = time.perf_counter()
    style = learn_style(None, text)
    assert time.perf_counter() - started < 1
    assert style.language == "es" and style.emoji_per_message == 20_000
