"""Simulated users book tables with the default bot through `memchat serve`'s REST channel, as a
chat widget does: never an empty message.

Each user has a goal (cuisine, city, price range, party size) and a plan: say some of it at once
or nothing, ask for a city the bot does not know (then take one it names), turn down the first
suggestion, change their mind after a suggestion or after booking, ask for the phone or the
address, wander off-topic, thank, say goodbye. Their wording comes from a bank that shares no
sentence with dialogues/data/nlu.yml; words get keyboard slips, party sizes come as digits or
words, prices as everyday synonyms.

It reports task success (the right search, a restaurant that fits the final goal booked, the right
phone or address, a polite end), the share of bot replies that fit the moment, stalls (a message
with no reply), leaked internals (action names, `api_call`, `{slot}`), and loops (the same message
twice in a row where it does not fit: a question asked again after an unknown city is no loop).

    python bench/simulate.py BUNDLE [--users 200] [--seed 0] [--slips 0.1] [--port 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from serving import start_serve, wait_up  # bench/serving.py

ROOT = Path(__file__).resolve().parents[1]
KB = list(csv.DictReader((ROOT / "dialogues" / "restaurants.csv").open(encoding="utf-8")))
CUISINES = sorted({r["cuisine"] for r in KB})
CITIES = sorted({r["location"] for r in KB})
PRICES = ["cheap", "moderate", "expensive"]
UNKNOWN_CITIES = ["tokyo", "barcelona", "vienna", "dublin"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
PRICE_WORDS = {
    "cheap": ["cheap", "budget", "inexpensive", "affordable"],
    "moderate": ["moderate", "mid range"],
    "expensive": ["expensive", "upscale", "posh", "high end"],
}

# The wording bank: none of these sentences is in dialogues/data/nlu.yml (the bench checks it)
SAY = {
    "greet": ["hello!", "hi, good evening", "hey there bot", "good morning to you", "hiya, anyone there?"],
    "request": [
        "could you sort out a table for us",
        "we're hoping to eat out tonight",
        "i'd like to make a booking",
        "can you get me a table at a restaurant",
        "looking to book dinner somewhere",
    ],
    "cuisine": [
        "we're in the mood for {c}",
        "{c} food would be lovely",
        "let's go with {c}",
        "{c}, i think",
        "how about {c} cuisine",
    ],
    "city": ["we're in {l}", "somewhere in {l} please", "{l}, please", "the city is {l}", "it has to be {l}"],
    "people": ["there'll be {n} of us", "a table for {n}", "{n} people", "we are a group of {n}", "for {n}"],
    "price": ["{p}, please", "something {p}", "our budget is {p}", "{p} would be best", "let's keep it {p}"],
    "all": [
        "a {p} {c} place in {l} for {n}, please",
        "{c} in {l}, {p}, table for {n}",
        "i need a table for {n} at a {p} {c} restaurant in {l}",
    ],
    "affirm": [
        "that sounds perfect",
        "yes, let's book that",
        "great, go ahead",
        "lovely, book it please",
        "sure, that one works",
    ],
    "another": [
        "hmm, got anything else?",
        "not that one, sorry",
        "what other places are there",
        "could you suggest a different one",
        "i'd rather see another option",
    ],
    "change_cuisine": [
        "actually, could we have {c} instead?",
        "on reflection, make it {c}",
        "let's switch to {c} food",
    ],
    "change_city": ["sorry, it should be in {l} after all", "can we do {l} instead?"],
    "phone": ["what's the number to ring them", "could i get their phone number?", "how do i phone them"],
    "address": ["where exactly is it?", "what's their address?", "which street is that on"],
    "offtopic": ["what's the weather like today?", "do you know any good jokes", "who's winning the football"],
    "thanks": ["cheers, thank you", "thanks so much", "brilliant, thanks"],
    "bye": ["bye for now", "goodbye then", "right, see you around"],
}
# A second bank, written before the NLU was broadened and never used to tune it: `--bank b`
SAY_B = {
    "greet": ["evening!", "hello hello", "hey, you there?", "morning all", "hi bot, how are you"],
    "request": [
        "need somewhere to eat tonight",
        "book us a restaurant please",
        "i want to reserve a table",
        "help me find a place for dinner",
        "could you reserve somewhere for me",
    ],
    "cuisine": [
        "we'd love some {c}",
        "i fancy {c} tonight",
        "{c} please",
        "make it {c} food",
        "i'm craving {c}",
    ],
    "city": ["in {l} please", "we're staying in {l}", "{l}", "near {l} city centre", "it's for {l}"],
    "people": ["{n} of us", "we'll be {n}", "{n} guests", "party of {n}", "table for {n} please"],
    "price": ["{p}", "i'd say {p}", "{p} if possible", "we want {p}", "something on the {p} side"],
    "all": [
        "find me {c} food in {l}, {p}, we are {n}",
        "{n} people, {c}, {l}, {p} price",
        "can you book {c} in {l} for {n} people, {p}",
    ],
    "affirm": ["yes that's great", "perfect, reserve it", "ok sounds good", "yes go for that one", "sure, book it"],
    "another": [
        "anything else?",
        "nah, show me another",
        "i don't fancy that one",
        "is there something else",
        "next option please",
    ],
    "change_cuisine": ["hmm, i'd prefer {c} actually", "change of plan, {c} please", "rather {c} food"],
    "change_city": ["wait, we'll be in {l} instead", "oh, could it be in {l}?"],
    "phone": ["their phone number?", "can i have the number", "give me their number please"],
    "address": ["what's the address?", "which way is it", "how do i find the place"],
    "offtopic": ["tell me about the news", "what time is it now", "can you sing me a song"],
    "thanks": ["thanks a million", "many thanks indeed", "that's great, thanks"],
    "bye": ["bye!", "see ya", "have a good night, bye"],
}
# A third bank, written after the NLU was broadened, measured once at the end: `--bank c`
SAY_C = {
    "greet": ["good evening, bot", "hi hi", "hey, anybody home?", "hello, good afternoon", "heya bot"],
    "request": [
        "we're looking for dinner reservations",
        "i'd love a table tonight",
        "please can you book a restaurant",
        "i want to go out for a meal",
        "can you reserve a table for us tonight",
    ],
    "cuisine": ["{c} food for us", "we want {c}", "{c} sounds nice", "let's eat {c}", "i'd go for {c}"],
    "city": ["we're going to be in {l}", "{l} it is", "in {l}, thanks", "over in {l}", "{l} please"],
    "people": ["we're {n}", "{n} persons", "a group of {n}", "{n} people please", "book for {n}"],
    "price": ["{p} please", "ideally {p}", "let's say {p}", "{p} is what we want", "go with {p}"],
    "all": [
        "{c} food in {l} for {n}, {p} please",
        "table for {n}, {c}, in {l}, {p} price range",
        "we want a {p} {c} restaurant in {l}, {n} people",
    ],
    "affirm": ["yes, that one's good", "great, please book", "ok, that works for us", "sounds nice, go on", "yes book"],
    "another": [
        "show me a different one",
        "not for us, anything else",
        "any others you'd suggest?",
        "hmm no, another one",
        "something else maybe",
    ],
    "change_cuisine": ["actually let's do {c}", "sorry, can it be {c} food instead", "we'd rather eat {c}"],
    "change_city": ["actually we'll be in {l}", "make it {l} instead please"],
    "phone": ["and their number?", "could you give me the phone number", "what number can i reach them on"],
    "address": ["and the address?", "where will i find it", "what's the restaurant's address"],
    "offtopic": ["how's the stock market doing", "who wrote hamlet", "what should i wear tonight"],
    "thanks": ["thanks a lot!", "super, thank you", "thank you, that's great"],
    "bye": ["bye bye!", "ok goodbye", "see you, bye"],
}
BANK = SAY  # the bank in use (--bank)
LEAK = re.compile(r"\b(utter_|action_|api_call|booking_form|active_loop)|[{}]")


def slip(text: str, rng: random.Random, rate: float) -> str:
    """A keyboard slip in some words of five letters or more: a letter doubled, dropped or swapped."""
    words = text.split()
    for i, w in enumerate(words):
        if len(w) >= 5 and w.isalpha() and rng.random() < rate:
            k = rng.randrange(1, len(w) - 1)
            kind = rng.choice(["double", "drop", "swap"])
            words[i] = (
                w[:k] + w[k] + w[k:]
                if kind == "double"
                else w[:k] + w[k + 1 :]
                if kind == "drop"
                else w[: k - 1] + w[k] + w[k - 1] + w[k + 1 :]
            )
    return " ".join(words)


@dataclass
class User:
    goal: dict  # cuisine, location, price, people
    upfront: str  # what is said in the first request: nothing, some, all
    unknown_city: str | None  # asks for a city the bot does not know first
    reject_first: bool
    change: str | None  # change of mind: cuisine or city, after the first suggestion or after booking
    change_after_booking: bool
    ask: str | None  # phone or address
    offtopic: bool
    said_goal: set = field(default_factory=set)


@dataclass
class Result:
    success: bool = False
    replies: int = 0
    fitting: int = 0
    stalls: int = 0
    leaks: int = 0
    loops: int = 0
    searched_right: bool = False
    booked_right: bool = False
    info_right: bool = True
    polite_end: bool = False
    transcript: list = field(default_factory=list)


class Client:
    def __init__(self, url: str, sender: str):
        self.url, self.sender = url, sender

    def say(self, text: str) -> list[str]:
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return [m.get("text", "") for m in json.loads(r.read())]


def make_user(rng: random.Random) -> User:
    goal = {
        "cuisine": rng.choice(CUISINES),
        "location": rng.choice(CITIES),
        "price": rng.choice(PRICES),
        "people": rng.choice(list(NUMBER_WORDS)),
    }
    return User(
        goal,
        rng.choice(["nothing", "some", "all"]),
        rng.choice(UNKNOWN_CITIES) if rng.random() < 0.2 else None,
        rng.random() < 0.3,
        rng.choice(["cuisine", "city"]) if rng.random() < 0.3 else None,
        rng.random() < 0.5,
        rng.choice(["phone", "address", None]),
        rng.random() < 0.25,
    )


def words(kind: str, rng: random.Random, user: User, slips: float, **values) -> str:
    g = {**user.goal, **values}
    n = g["people"]
    text = rng.choice(BANK[kind]).format(
        c=g["cuisine"], l=g["location"], p=rng.choice(PRICE_WORDS[g["price"]]), n=rng.choice([str(n), NUMBER_WORDS[n]])
    )
    return slip(text, rng, slips)


def fits_restaurant(name: str, goal: dict) -> dict | None:
    row = next((r for r in KB if r["restaurant"].lower() == name.lower()), None)
    if row and all(row[k] == goal[k] for k in ("cuisine", "location", "price")):
        return row
    return None


def converse(client: Client, user: User, rng: random.Random, slips: float) -> Result:
    res = Result()
    state = {
        "booked": None,
        "suggested": None,
        "changed": False,
        "asked_info": False,
        "offtopic_done": False,
        "rejected": False,
        "unknown_tried": False,
        "done": False,
    }
    last_bot: str | None = None

    def send(text: str, expect) -> list[str]:
        nonlocal last_bot
        replies = client.say(text)
        res.transcript.append(("user", text))
        if not replies:
            res.stalls += 1
        for i, r in enumerate(replies):
            res.replies += 1
            res.leaks += bool(LEAK.search(r))
            fit = bool(expect(r, i))
            res.transcript.append(("bot" if fit else "bot✗", r))  # ✗: the reply did not fit
            res.loops += r == last_bot and not fit  # the same message again, where it does not fit
            last_bot = r
            res.fitting += fit
        return replies

    is_ask = {
        "cuisine": "What kind of food",
        "location": "In which city",
        "people": "How many people",
        "price": "Which price range",
    }

    def fits_turn(r: str, i: int) -> bool:  # a sensible reply while the request is being made
        for slot, start in is_ask.items():
            if r.startswith(start):
                return slot not in user.said_goal or slot == "location" and state["unknown_tried"]
        if r.startswith("Let me look for"):
            return (
                all(str(user.goal[k]) in r for k in ("cuisine", "location", "price")) and str(user.goal["people"]) in r
            )
        if r.startswith("What do you think of"):
            return fits_restaurant(r.removeprefix("What do you think of ").split("?")[0], user.goal) is not None
        return False

    # the first message: a greeting, or straight to the request
    if rng.random() < 0.6:
        send(words("greet", rng, user, slips), lambda r, i: r.startswith(("Hello", "Hi there")))
    if user.upfront == "all" and not user.unknown_city:
        user.said_goal |= {"cuisine", "location", "price", "people"}
        replies = send(words("all", rng, user, slips), fits_turn)
    else:
        replies = send(words("request", rng, user, slips), fits_turn)
    for _ in range(30):  # turns
        if state["done"]:
            break
        r = replies[-1] if replies else ""
        if not replies:  # the bot said nothing: the user tries again
            replies = send(words("request", rng, user, slips), fits_turn)
            continue
        if user.offtopic and not state["offtopic_done"] and r.startswith(tuple(is_ask.values())):
            state["offtopic_done"] = True
            replies = send(
                slip(rng.choice(BANK["offtopic"]), rng, slips),
                lambda r, i: r.startswith(("Sorry, I can only", "Sorry, I didn't get")) if i == 0 else fits_turn(r, i),
            )
            continue
        asked = next((s for s, start in is_ask.items() if r.startswith(start)), None)
        if asked:
            if asked == "location" and user.unknown_city and not state["unknown_tried"]:
                state["unknown_tried"] = True
                replies = send(
                    words("city", rng, user, slips, location=user.unknown_city),
                    # the question again, naming the cities it knows; "Sorry, I didn't get that" or
                    # "Sorry, I don't know any restaurants in <the city>" may come first
                    lambda r, i: (
                        r.startswith("In which city")
                        or (i == 0 and r.startswith(("Sorry, I didn't get", "Sorry, I don't know any restaurants in")))
                    ),
                )
                continue
            user.said_goal.add(asked)
            kind = {"cuisine": "cuisine", "location": "city", "people": "people", "price": "price"}[asked]
            replies = send(words(kind, rng, user, slips), fits_turn)
            continue
        if r.startswith("What do you think of"):
            name = r.removeprefix("What do you think of ").split("?")[0]
            state["suggested"] = name
            if user.reject_first and not state["rejected"]:
                state["rejected"] = True
                replies = send(
                    words("another", rng, user, slips),
                    lambda r, i, name=name: (
                        r.startswith(("What do you think of", "That was the last"))
                        and not r.startswith(f"What do you think of {name}?")
                    ),
                )
                continue
            if user.change and not state["changed"] and not user.change_after_booking:
                replies = change_mind(send, user, rng, slips, state, fits_turn)
                continue
            replies = send(
                words("affirm", rng, user, slips),
                lambda r, i, name=name: r.startswith(f"Done: a table for {user.goal['people']} at {name}"),
            )
            if fits_restaurant(name, user.goal) and any(x.startswith("Done:") for x in replies):
                state["booked"] = name
            continue
        if r.startswith("Done:"):
            if user.change and not state["changed"] and user.change_after_booking:
                state["booked"] = None
                replies = change_mind(send, user, rng, slips, state, fits_turn)
                continue
            if user.ask and not state["asked_info"]:
                state["asked_info"] = True
                row = next(x for x in KB if x["restaurant"] == state["booked"]) if state["booked"] else None
                want = row["phone"] if row and user.ask == "phone" else row["address"] if row else "?"
                replies = send(words(user.ask, rng, user, slips), lambda r, i, want=want: want in r)
                res.info_right = any(want in x for x in replies)
                replies = replies + ["Done: again"]
                continue
            replies = send(words("thanks", rng, user, slips), lambda r, i: r.startswith("You're welcome"))
            continue
        if r.startswith(("You're welcome", "Done: again", "The phone number", f"{state['booked']} is at")):
            replies = send(words("bye", rng, user, slips), lambda r, i: r.startswith("Goodbye"))
            res.polite_end = any(x.startswith("Goodbye") for x in replies)
            state["done"] = True
            continue
        if r.startswith(("That was the last", "Sorry, I found nothing")):
            user.goal["price"] = rng.choice([p for p in PRICES if p != user.goal["price"]])
            replies = send(words("price", rng, user, slips), fits_turn)
            continue
        # anything else: the user repeats what they want
        replies = send(words("all", rng, user, slips), fits_turn)
    searches = [t for s, t in res.transcript if s.startswith("bot") and t.startswith("Let me look for")]
    res.searched_right = bool(searches) and all(str(user.goal[k]) in searches[-1] for k in ("cuisine", "location"))
    res.booked_right = state["booked"] is not None and fits_restaurant(state["booked"], user.goal) is not None
    res.success = res.searched_right and res.booked_right and res.info_right and res.polite_end
    return res


def change_mind(send, user, rng, slips, state, fits_turn):
    state["changed"] = True
    if user.change == "cuisine":
        user.goal["cuisine"] = rng.choice([c for c in CUISINES if c != user.goal["cuisine"]])
        return send(words("change_cuisine", rng, user, slips), fits_turn)
    user.goal["location"] = rng.choice([c for c in CITIES if c != user.goal["location"]])
    return send(words("change_city", rng, user, slips), fits_turn)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slips", type=float, default=0.1, help="share of words of 5+ letters with a slip")
    ap.add_argument("--show", type=int, default=0, help="print N failed conversations")
    ap.add_argument("--bank", choices=["a", "b", "c"], default="a", help="b, c: banks written later")
    ap.add_argument("--misfits", action="store_true", help="print every reply that did not fit, after its message")
    args = ap.parse_args()
    global BANK
    BANK = {"a": SAY, "b": SAY_B, "c": SAY_C}[args.bank]
    nlu = (ROOT / "dialogues" / "data" / "nlu.yml").read_text().lower()
    shared = [s for kind in BANK.values() for s in kind if f"- {s.lower()}\n" in nlu]
    assert not shared, f"the bank repeats training examples: {shared}"
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_serve(args.bundle, Path(tmp) / "sim.db", stderr=subprocess.DEVNULL)
        try:
            wait_up(server, url)
            rng = random.Random(args.seed)
            results = []
            t0 = time.perf_counter()
            for u in range(args.users):
                user = make_user(rng)
                results.append(
                    (user, converse(Client(url + "/webhooks/rest/webhook", f"sim-{u}"), user, rng, args.slips))
                )
            seconds = time.perf_counter() - t0
        finally:
            server.terminate()
            server.wait(timeout=30)
    n = len(results)
    rs = [r for _, r in results]
    replies = sum(r.replies for r in rs)
    print(f"{n} simulated users, bank {args.bank}, seed {args.seed}, slips {args.slips:.0%}; {seconds:.1f} s")
    print(
        f"bookings completed (right search, fitting restaurant booked, right phone/address, polite end): "
        f"{sum(r.success for r in rs) / n:.1%}"
    )
    print(
        f"  right search {sum(r.searched_right for r in rs) / n:.1%}, fitting restaurant booked "
        f"{sum(r.booked_right for r in rs) / n:.1%}, polite end {sum(r.polite_end for r in rs) / n:.1%}"
    )
    for label, pick in [
        ("with everyday price synonyms or party sizes in words", lambda u: True),
        ("who asked for a city the bot does not know", lambda u: u.unknown_city),
        ("who changed their mind", lambda u: u.change),
        ("who went off-topic", lambda u: u.offtopic),
    ]:
        group = [r for u, r in results if pick(u)]
        if group and label.startswith("who"):
            print(f"  users {label}: {sum(r.success for r in group) / len(group):.1%} of {len(group)}")
    print(f"replies that fit the moment: {sum(r.fitting for r in rs) / max(replies, 1):.1%} of {replies}")
    print(
        f"stalls: {sum(r.stalls for r in rs)}; leaked internal text: {sum(r.leaks for r in rs)}; "
        f"loops: {sum(r.loops for r in rs)}"
    )
    if args.misfits:
        for _, r in results:
            said = ""
            for who, text in r.transcript:
                if who == "user":
                    said = text
                elif who == "bot✗":
                    print(f"misfit: {said!r} -> {text!r}")
    for _, r in [x for x in results if not x[1].success or x[1].stalls or x[1].loops][: args.show]:
        print("---")
        for who, text in r.transcript:
            print(f"  {who:>5}: {text}")


if __name__ == "__main__":
    main()
