"""Word classes: meaning past spelling, for a bot project's model (``Featurizer.for_project``).

A word of a class adds the class's word (``<c:neg>``) to the bag it is in, as an entity adds its
type's word: "gloomy" and "miserable" then share a feature though no example has "gloomy". A
negation ("not", "never", "didn't"...) flips the polarity of the next few words up to a
punctuation mark or "but": "not doing well" is ``<c:neg>``, "not bad" ``<c:pos>``.

The lists are memchat's own, written by its developers (no pretrained embeddings can be
downloaded where memchat runs); they hold everyday English words, not any project's.
"""

from __future__ import annotations

from collections.abc import Sequence

_LISTS = {
    "pos": """good great fine well better best nice lovely fantastic brilliant excellent awesome amazing
        wonderful marvellous marvelous fabulous fab superb super terrific splendid perfect happy happier
        glad cheerful joyful delighted thrilled excited pumped stoked chuffed content pleased positive
        grateful blessed relaxed calm cool ok okay alright sunny bright upbeat cheery merry jolly
        beautiful gorgeous incredible outstanding phenomenal stellar fresh energetic energised energized
        peaceful optimistic ecstatic elated overjoyed smiling laughing love loving enjoy enjoying fun
        helped helpful worked works cheered uplifted 😀 😃 😄 😁 😊 🙂 🥳 😍 ❤️ 👍 🎉""",
    "neg": """bad worse worst awful terrible horrible dreadful rotten rubbish crap crappy lousy poor
        sad sadder unhappy miserable depressed depressing down low blue gloomy glum grim moody bleak
        upset hurt hurting broken heartbroken lonely alone crying cry cried tears tearful anxious
        worried nervous scared afraid stressed stressful tired exhausted drained sick ill unwell pain
        angry mad furious annoyed irritated frustrated grumpy cranky fed bored boring disappointed
        disappointing gutted hopeless helpless worthless useless wrong awful tough rough hard sucks
        sucked meh blah hate hated horrid nasty dismal wretched sorrowful melancholy troubled
        overwhelmed 😞 😢 😭 😔 ☹️ 🙁 😠 😡 👎 💔""",
    "greet": """hi hello hey heya hiya hallo hullo howdy yo oi salutations greetings g'day gday morning
        afternoon evening sup wassup hola bonjour ciao aloha 👋""",
    "bye": """bye goodbye farewell cya later laters ttyl adios cheerio night ciao leaving off""",
    "thanks": """thanks thank thx ty cheers appreciate appreciated grateful ta 🙏""",
    "yes": """yes yeah yea yep yup aye sure certainly definitely absolutely indeed correct ok okay
        alright affirmative agreed 👍 👌 ✅""",
    "no": """no nope nah naw never negative nay 👎 ❌""",
    "bot": """bot robot machine computer program software ai automated automatic chatbot artificial
        human person real people""",
}
CLASSES: dict[str, tuple[str, ...]] = {}  # word -> its classes
for _name, _words in _LISTS.items():
    for _w in _words.split():
        CLASSES[_w] = (*CLASSES.get(_w, ()), _name)

NEGATORS = frozenset("not no never hardly barely without nothing neither nor instead".split())
FLIP = {"pos": "neg", "neg": "pos"}
SCOPE = 3  # words a negation reaches
_STOPS = frozenset(",.;:!?") | {"but", "though", "although"}


def class_word(name: str) -> str:
    """The word standing for a class; ``tokenize`` never makes it from text."""
    return f"<c:{name}>"


WORDS = tuple(class_word(n) for n in _LISTS)  # every class word, for a vocabulary


def classes(tokens: Sequence[str]) -> list[str]:
    """The class words of ``tokens`` (``tokenize``'s), polarity flipped in a negation's scope."""
    return [
        class_word(FLIP.get(name, name) if no else name)
        for t, no in zip(tokens, negated(tokens))
        for name in CLASSES.get(t, ())
    ]


def negated(tokens: Sequence[str]) -> list[bool]:
    """For each token, whether it stands in a negation's scope ("not mexican", "no nuts"), as
    ``classes`` flips polarity there."""
    out, scope = [], 0
    for t in tokens:
        if t in _STOPS:
            scope = 0
            out.append(False)
            continue
        out.append(scope > 0)
        scope = max(scope - 1, 0)
        if t in NEGATORS or t.endswith("n't"):
            scope = SCOPE
    return out
