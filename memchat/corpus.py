"""The default bot's corpus: restaurant-booking dialogues in the dialog bAbI format, written by a
seeded generator (``memchat init DIR`` writes them; the project's ``dialogues/`` is its output).

Its own knowledge base (restaurant names, cuisines, cities, prices, ratings, phones, addresses)
and its own wording. A dialogue covers what dialog bAbI task 5 covers: greeting, slot filling
(the bot asks for cuisine, city, party size and price, in that order, whichever the user has not
said), an update of the request before the search (sometimes after a search that found nothing),
the api call and its results, options proposed best-rated first (the user may turn some down),
booking, then the phone number or the address. Result lines are what the knowledge-base plugin
answers live, so a bot trained here behaves the same in ``memchat repl``.

The user's wording comes from two disjoint sets of templates: one for the training dialogues,
one for the dev dialogues, so that dev accuracy measures phrasings the model has not seen. A
bag-of-words model cannot know a synonym it never saw, so the dev phrasings reword and
recombine the training words ("can i have the address" for "may i have the address of the
restaurant") rather than bring new ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from memchat.babi import SILENCE
from memchat.kbquery import NO_RESULT, result_lines

CUISINES = ["ramen", "tapas", "curry", "falafel", "pho", "pizza"]
CITIES = ["lisbon", "oslo", "kyoto", "lima", "dublin"]
PRICES = ["cheap", "moderate", "expensive"]
SIZES = ["two", "four", "six", "eight"]
NAME_FIRST = ["copper", "blue", "golden", "little", "silver", "green", "red", "old", "wild", "lucky", "quiet", "sunny"]
NAME_SECOND = [
    "pot",
    "fig",
    "lantern",
    "spoon",
    "door",
    "garden",
    "table",
    "kettle",
    "harbor",
    "olive",
    "crane",
    "bell",
]
SLOTS = ("cuisine", "location", "size", "price")  # the order the bot asks in, and the api call's

# What the bot says: fixed replies, and those naming a restaurant.
HELLO = "hello what can i help you with today"
ON_IT = "i'm on it"
ASK = {
    "cuisine": "any preference on a type of cuisine",
    "location": "where should it be",
    "size": "how many people would be in your party",
    "price": "which price range are you looking for",
}
LOOKING = "ok let me look into some options for you"
NOTHING = "sorry i found nothing like that what would you like to change"
UPDATE = "sure is there anything else to update"
PROPOSE = "what do you think of this option: {name}"
OTHER = "sure let me find another option for you"
BOOKED = "great let me do the reservation"
HERE = "here it is {value}"
ANYTHING = "is there anything i can help you with"
WELCOME = "you're welcome"

# The user's wording: TRAIN for the training dialogues, DEV for the dev ones (no template shared).
TRAIN = {
    "greet": ["hi", "hello", "good morning"],
    "request": [
        "i'd like to book a table{slots}",
        "can you book a table{slots}",
        "may i have a table{slots}",
        "i'm looking for a restaurant{slots}",
        "i need a table{slots}",
        "book a table{slots}",
    ],
    "cuisine": [" with {v} food", " serving {v} food", " that serves {v}", " {v}"],
    "location": [" in {v}", " in the {v} area", " near {v}"],
    "size": [" for {v} people", " for {v}", " for a group of {v}"],
    "price": [" in a {v} price range", " with {v} prices", " that is {v}"],
    "answer_cuisine": ["{v} food", "i love {v} food", "{v} please", "{v}", "i'd like {v}"],
    "answer_location": ["in {v}", "{v} please", "{v}", "it should be in {v}"],
    "answer_size": ["we will be {v}", "{v} people", "{v}", "for {v} please"],
    "answer_price": ["in a {v} price range", "{v} please", "{v}", "a {v} one"],
    "update": ["actually i would prefer{slot} instead", "can you make it{slot} instead", "instead make it{slot}"],
    "no_more": ["no", "no thanks"],
    "refuse": ["no i don't like that", "no this does not work for me", "do you have something else"],
    "accept": ["let's do it", "that looks great", "perfect book it"],
    "phone": ["may i have the phone number of the restaurant", "what is their phone number"],
    "address": ["may i have the address of the restaurant", "what is their address"],
    "thanks": ["thanks", "thank you"],
    "bye": ["no thank you", "no that's all"],
}
# Training utterances sometimes carry filler words around them, so that the model learns to
# weigh the words that matter (entities, "instead", "address") over those that do not.
FILLER_BEFORE = ["ok ", "well ", "so ", "hmm "]
FILLER_AFTER = [" please", " then", " now", " if possible", " if you can"]

DEV = {
    "greet": ["hi there", "hello there", "good morning to you"],
    "request": ["could you book me a table{slots}", "i want to book a table{slots}", "we need a table{slots}"],
    "cuisine": [" with {v} food please", " serving some {v} food"],
    "location": [" in {v} please", " somewhere in {v}"],
    "size": [" for {v} people please", " for {v} of us"],
    "price": [" in the {v} price range", " with {v} prices please"],
    "answer_cuisine": ["{v} food would be nice", "i'd love {v} food"],
    "answer_location": ["in {v} would be nice", "somewhere in {v}"],
    "answer_size": ["we will be {v} people", "{v} of us"],
    "answer_price": ["a {v} price range", "{v} prices please"],
    "update": ["actually make it{slot} instead", "could it be{slot} instead"],
    "no_more": ["no nothing to update", "no nothing else"],
    "refuse": ["no i don't like this one", "no do you have something else"],
    "accept": ["great let's do it", "that looks perfect book it"],
    "phone": ["can i have the phone number", "what is the phone number"],
    "address": ["can i have the address", "what is the address"],
    "thanks": ["thanks a lot", "thank you very much"],
    "bye": ["no that's all for today", "no i'm all set"],
}


@dataclass
class Restaurant:
    name: str
    cuisine: str
    location: str
    price: str
    rating: int
    size: str

    def facts(self) -> list[tuple[str, str]]:
        """Its relations in the knowledge-base file's order."""
        return [
            ("R_cuisine", self.cuisine),
            ("R_location", self.location),
            ("R_price", self.price),
            ("R_rating", str(self.rating)),
            ("R_phone", f"{self.name}_phone"),
            ("R_address", f"{self.name}_address"),
            ("R_number", self.size),
        ]


def make_kb(rng: random.Random, groups: int = 60) -> list[Restaurant]:
    """``groups`` distinct requests (cuisine, city, price, party size) with 1-3 restaurants each,
    of distinct ratings, so that "best rated first" is always well defined."""
    combos = [(c, city, p, n) for c in CUISINES for city in CITIES for p in PRICES for n in SIZES]
    names = [f"{a}_{b}" for a in NAME_FIRST for b in NAME_SECOND]
    rng.shuffle(names)
    kb = []
    for c, city, p, n in rng.sample(combos, groups):
        for rating in rng.sample(range(1, 11), rng.choice([1, 2, 2, 3])):
            kb.append(Restaurant(names.pop(), c, city, p, rating, n))
    return kb


def api_call(request: dict[str, str]) -> str:
    return "api_call " + " ".join(request[s] for s in SLOTS)


class DialogueWriter:
    def __init__(self, rng: random.Random, words: dict[str, list[str]], kb: list[Restaurant], filler: float = 0.0):
        self.rng, self.words, self.filler = rng, words, filler
        self.groups: dict[tuple, list[Restaurant]] = {}
        for r in kb:
            self.groups.setdefault((r.cuisine, r.location, r.size, r.price), []).append(r)

    def say(self, kind: str, **values) -> str:
        text = self.rng.choice(self.words[kind]).format(**values)
        if self.filler and kind not in SLOTS:  # slot phrases go inside a request: no filler there
            if self.rng.random() < self.filler:
                text = self.rng.choice(FILLER_BEFORE) + text
            if self.rng.random() < self.filler:
                text += self.rng.choice(FILLER_AFTER)
        return text

    def dialogue(self) -> list[tuple[str, str] | str]:
        """(user, bot) pairs, and result lines as plain strings."""
        rng = self.rng
        key = rng.choice(sorted(self.groups))
        final = dict(zip(SLOTS, key))
        request = dict(final)
        changed, unknown = None, False
        if rng.random() < 0.45:  # the user first asks for something else, then updates it
            changed = rng.choice(SLOTS)
            choices = {"cuisine": CUISINES, "location": CITIES, "size": SIZES, "price": PRICES}[changed]
            others = [v for v in choices if v != final[changed]]
            # one time in three the first request is one the knowledge base has no restaurant for:
            # the bot searches, finds nothing, and asks what to change
            unknown = rng.random() < 1 / 3
            if unknown:
                others = [v for v in others if tuple({**final, changed: v}[s] for s in SLOTS) not in self.groups]
                unknown = bool(others)
            request[changed] = rng.choice(others)
        given = [s for s in SLOTS if rng.random() < 0.5]
        turns: list[tuple[str, str] | str] = [(self.say("greet"), HELLO)]
        slots = "".join(self.say(s, v=request[s]) for s in given)
        turns.append((self.say("request", slots=slots), ON_IT))
        missing = [s for s in SLOTS if s not in given]
        user = SILENCE
        for s in missing:
            turns.append((user, ASK[s]))
            user = self.say(f"answer_{s}", v=request[s])
        turns.append((user, LOOKING))
        if unknown:
            turns.append((SILENCE, api_call(request)))
            turns.append(NO_RESULT)
            turns.append((SILENCE, NOTHING))
        if changed:
            turns.append((self.say("update", slot=self.say(changed, v=final[changed])), UPDATE))
            turns.append((self.say("no_more"), LOOKING))
        turns.append((SILENCE, api_call(final)))
        options = sorted(self.groups[key], key=lambda r: -r.rating)
        facts = {r.name: dict(r.facts()) for r in options}
        turns += result_lines(facts, 4)
        refusals = rng.choice(range(len(options)))
        for i in range(refusals + 1):
            turns.append((SILENCE, PROPOSE.format(name=options[i].name)))
            if i < refusals:
                turns.append((self.say("refuse"), OTHER))
        chosen = options[refusals]
        turns.append((self.say("accept"), BOOKED))
        for extra in rng.sample(["phone", "address"], rng.choice([0, 1, 1, 2])):
            turns.append((self.say(extra), HERE.format(value=f"{chosen.name}_{extra}")))
        turns.append((self.say("thanks"), ANYTHING))
        turns.append((self.say("bye"), WELCOME))
        return turns


def format_dialogues(dialogues: list[list[tuple[str, str] | str]]) -> str:
    out = []
    for d in dialogues:
        lines = [f"{turn[0]}\t{turn[1]}" if isinstance(turn, tuple) else turn for turn in d]
        out.append("".join(f"{i} {line}\n" for i, line in enumerate(lines, start=1)))
    return "\n".join(out)


def candidates(kb: list[Restaurant]) -> list[str]:
    """Every reply the bot can give: fixed ones, every api call, and each restaurant's lines."""
    fixed = [HELLO, ON_IT, *ASK.values(), LOOKING, NOTHING, UPDATE, OTHER, BOOKED, ANYTHING, WELCOME]
    calls = [f"api_call {c} {city} {n} {p}" for c in CUISINES for city in CITIES for n in SIZES for p in PRICES]
    named = [
        line
        for r in kb
        for line in (
            PROPOSE.format(name=r.name),
            HERE.format(value=f"{r.name}_phone"),
            HERE.format(value=f"{r.name}_address"),
        )
    ]
    return fixed + calls + named


CONFIG = """\
# memchat train reads this file from the folder it trains on; command-line flags win.
[train]
dim = 128         # embedding size
hops = 2          # memory hops
memory = 60       # the most recent utterances attended over
epochs = 60       # most epochs; early stopping on dev per-response accuracy ends sooner
patience = 8      # epochs without a better dev score before stopping
dropout = 0.4     # dropout on utterance embeddings: new phrasings need robustness more than fit
"""

README = """\
# A memchat bot

Restaurant-booking dialogues in the dialog bAbI format, written by `memchat init` (seed {seed}):

- `{name}-trn.txt`, `{name}-dev.txt`: training and dev dialogues (user<TAB>bot, knowledge-base
  results as plain lines, a blank line between dialogues);
- `{name}-candidates.txt`: every reply the bot may choose;
- `{name}-kb.txt`: the knowledge base the api calls run against;
- `config.toml`: training settings.

Edit them or replace them with your own domain's, then:

```bash
memchat train .                          # writes a bundle under models/
memchat start .                          # trains if needed, then chats (memchat repl)
```
"""


def write_corpus(
    folder: str | Path, seed: int = 0, train: int = 1000, dev: int = 150, name: str = "restaurant"
) -> list[Path]:
    """Write the corpus, its candidates, knowledge base, config and README into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kb = make_kb(rng)
    train_writer, dev_writer = DialogueWriter(rng, TRAIN, kb, filler=0.3), DialogueWriter(rng, DEV, kb)
    files = {
        f"{name}-kb.txt": "".join(f"1 {r.name} {rel}\t{value}\n" for r in kb for rel, value in r.facts()),
        f"{name}-trn.txt": format_dialogues([train_writer.dialogue() for _ in range(train)]),
        f"{name}-dev.txt": format_dialogues([dev_writer.dialogue() for _ in range(dev)]),
        f"{name}-candidates.txt": "".join(f"1 {c}\n" for c in candidates(kb)),
        "config.toml": CONFIG,
        "README.md": README.format(seed=seed, name=name),
    }
    written = []
    for filename, text in files.items():
        path = folder / filename
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: a file is whole or absent
        written.append(path)
    return written
