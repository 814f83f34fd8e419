"""How a contact writes, learned from every message they send: language, typical length, emoji, register.

Updated on every inbound message, so it must be cheap: one pass over the text, set look-ups, moving averages. The
first messages count equally (a plain average); after that recent messages weigh more, so a changed habit shows.
The language and the register change only on a clear signal, so one odd message does not flip them.
"""

from __future__ import annotations

import re

from bot.storage.models import ContactStyle, Register

# After this many messages the averages become exponential (each new message weighs 1/_WINDOW).
_WINDOW = 10
# Fewer samples than this say nothing reliable about a person's style.
MIN_SAMPLES = 3
# Language and register are read from this much of a message; its length and emoji from all of it.
SAMPLE_CHARS = 2000

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Laughter: "haha", "jajaja", "kkkk" (Portuguese), "rs", "xd".
_LAUGH = re.compile(r"(ha|ja|he|hi|ka)\1+h?|k{3,}|rs+|x+d+")

# Frequent short words of each language; words two languages share count for both, so only the words that tell
# them apart decide. Distinctive letters add one point.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are you your i i'm to of in it it's that this for with have has what when where can do does not "
        "my me we be was will would please thanks thank hello there how about just know at on from but or if they "
        "he she an am been could should tomorrow today see up yeah whats".split()
    ),
    "es": frozenset(
        "el la los las que de y en un una es por para con no se lo del al mi tu como pero más muy está estoy hola "
        "gracias qué cómo cuándo dónde usted tengo hay también sí bien buenos buenas días puedo quiero nos ya este "
        "esta eso mañana hoy son estás tienes".split()
    ),
    "pt": frozenset(
        "o os as que de e em um uma é por para com não se do da dos das no na meu minha você como mas mais muito "
        "está estou olá oi obrigado obrigada quando onde tenho também sim bom boa dia posso quero isso esse essa ao "
        "tudo amanhã hoje são vocês".split()
    ),
    "fr": frozenset(
        "le la les de des du et est un une je tu il elle nous vous que qui pour avec pas ne en sur dans ce cette "
        "mais mon ma bonjour merci oui très suis avez êtes c'est j'ai demain aujourd'hui au aux sont peux veux "
        "plaît s'il ça moi toi tout vais fait".split()
    ),
    "de": frozenset(
        "der die das und ist ich du sie wir nicht ein eine zu mit auf für von den dem es auch wie was bitte danke "
        "hallo ja nein haben habe bin sind kann heute morgen noch schon aber oder wenn ihr mir mich dich".split()
    ),
    "it": frozenset(
        "il lo la gli le di e è che un una per con non mi ti ci sono sei come ma più molto ciao grazie buongiorno "
        "anche questo questa quando dove perché ho hai ha del della delle degli nel nella si domani oggi tra fra "
        "puoi posso voglio sto".split()
    ),
    "nl": frozenset(
        "de het een en is ik je jij u wij we niet dat die van voor met op te zijn ben heb hebt kan maar ook wat "
        "hoe wanneer waar hallo dank bedankt alstublieft alsjeblieft graag goedemorgen nog al er naar morgen "
        "vandaag kun jullie mij mijn jou jouw dan zo".split()
    ),
}
_LETTERS = {"es": frozenset("ñ¿¡"), "pt": frozenset("ãõ"), "de": frozenset("ßäö"), "fr": frozenset("œêûç")}
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "nl": "Dutch",
}

# Words that mark a register in each language ("usted", "vous", "Ihnen" against "tú", "tu", "du").
_FORMAL = {
    "en": frozenset("dear regards sincerely kindly respectfully appreciate furthermore madam sir".split()),
    "es": frozenset("usted ustedes estimado estimada atentamente cordialmente señor señora agradecería".split()),
    "pt": frozenset("prezado prezada atenciosamente cordialmente senhor senhora agradeço gostaria".split()),
    "fr": frozenset("vous votre vos cordialement madame monsieur veuillez salutations".split()),
    "de": frozenset("ihnen geehrte geehrter freundlichen hochachtungsvoll".split()),
    "it": frozenset("lei gentile gentili cordiali distinti egregio".split()),
    "nl": frozenset("u uw geachte vriendelijke hoogachtend".split()),
}
_CASUAL = {
    "en": frozenset("hey hiya yeah yep nope gonna wanna btw omg pls plz thx ty u ur ya dude bro mate lol".split()),
    "es": frozenset("tú tu oye vale guay tío tía porfa jaja xd".split()),
    "pt": frozenset("tu oi vc vcs blz valeu cara beleza tb".split()),
    "fr": frozenset("tu toi t'es salut coucou stp mdr".split()),
    "de": frozenset("du dich dir hey hi lg bussi".split()),
    "it": frozenset("tu ciao ciaoo ti".split()),
    "nl": frozenset("jij je hoi doei joh".split()),
}
_CASUAL_ANY = frozenset("lol omg okk".split())


_PICTOGRAPH = (
    "\U0001f300-\U0001f3fa\U0001f400-\U0001faff\u2600-\u27bf\U0001f000-\U0001f1e5\U0001f200-\U0001f2ff"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u231a\u231b\u23f0\u23f3"
)
_MODIFIERS = "\ufe0f\U0001f3fb-\U0001f3ff"  # presentation selector, skin tones: part of the emoji before them
# One emoji as a reader sees it: a flag (two regional letters), or pictographs joined by U+200D with modifiers.
_EMOJI = re.compile(
    f"[\U0001f1e6-\U0001f1ff]{{1,2}}|[{_PICTOGRAPH}][{_MODIFIERS}]*(?:\u200d[{_PICTOGRAPH}][{_MODIFIERS}]*)*"
)


def count_emoji(text: str) -> int:
    """Emoji as a reader counts them: a sequence joined by U+200D, a skin-toned one and a flag count once."""
    return len(_EMOJI.findall(text))


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _language_scores(words: list[str], text: str) -> dict[str, float]:
    scores = {code: float(sum(word in vocabulary for word in words)) for code, vocabulary in STOP_WORDS.items()}
    present = set(text.lower())
    for code, letters in _LETTERS.items():
        if present & letters:
            scores[code] += 1
    return scores


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in (en es pt fr de it nl), or None when unclear:
    too few telling words (short texts), or two languages equally likely."""
    words = _words(text)
    if len(words) < 2:
        return None
    ranked = sorted(_language_scores(words, text).items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, second_score) = ranked[0], ranked[1]
    if best_score < 2 or best_score - second_score < 1:
        return None
    return best


def register_score(text: str, language: str | None) -> int:
    """Positive for formal writing, negative for casual, zero when the text says nothing either way."""
    words = _words(text)
    formal = _FORMAL.get(language or "", frozenset())
    casual = _CASUAL.get(language or "", frozenset()) | _CASUAL_ANY
    score = sum(word in formal for word in words) - sum(word in casual for word in words)
    if language == "de":
        score += text.split().count("Sie")  # capitalised mid-sentence it is the polite "you"
    score -= sum(1 for word in words if _LAUGH.fullmatch(word))
    if count_emoji(text) or "!!" in text or "??" in text:
        score -= 1
    if len(words) >= 3 and text == text.lower() and text != text.upper():
        score -= 1  # no capital letter anywhere: typed quickly, casually
    return score


def _average(old: float, new: float, samples: int) -> float:
    weight = max(1 / (samples + 1), 1 / _WINDOW)
    return old + (new - old) * weight


def learn_style(style: ContactStyle | None, text: str) -> ContactStyle:
    """`style` updated with one more message from the contact; a message without text teaches nothing."""
    style = style or ContactStyle()
    text = text.strip()
    if not text:
        return style
    # The start of a long message tells its language and register as well as the whole would.
    sample = text[:SAMPLE_CHARS]
    language = detect_language(sample) or style.language
    score = register_score(sample, language)
    formality = style.formality
    # A first clear sign sets the register; changing it takes a stronger one.
    needed = 1 if formality is None else 2
    if score >= needed:
        formality = Register.FORMAL
    elif score <= -needed:
        formality = Register.CASUAL
    return ContactStyle(
        language=language,
        avg_chars=_average(style.avg_chars, len(text), style.samples),
        emoji_per_message=_average(style.emoji_per_message, count_emoji(text), style.samples),
        formality=formality,
        samples=style.samples + 1,
    )


def describe_style(style: ContactStyle | None) -> str | None:
    """One sentence on how the contact writes, for the prompt; None until there are MIN_SAMPLES messages."""
    if style is None or style.samples < MIN_SAMPLES:
        return None
    parts = []
    if style.language:
        parts.append(f"in {LANGUAGE_NAMES.get(style.language, style.language)}")
    chars = round(style.avg_chars)
    if chars < 40:
        length = "very short messages"
    elif chars < 120:
        length = "short messages"
    elif chars < 400:
        length = "medium-length messages"
    else:
        length = "long messages"
    parts.append(f"in {length} (about {chars} characters)")
    if style.formality is Register.FORMAL:
        parts.append("formally")
    elif style.formality is Register.CASUAL:
        parts.append("casually")
    if style.emoji_per_message >= 1:
        parts.append("with plenty of emoji")
    elif style.emoji_per_message >= 0.3:
        parts.append("with some emoji")
    else:
        parts.append("rarely with emoji")
    return f"They usually write {', '.join(parts)}."
