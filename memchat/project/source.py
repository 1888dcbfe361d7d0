"""A bot project made ready to train: its dialogues generated, its actions as candidates, its
runtime (responses, forms, slots, knowledge base) for the bundle."""

from __future__ import annotations

from collections import Counter

from memchat.nn.entities import EntityTable, tokenize
from memchat.nn.featurize import Featurizer
from memchat.project.folder import Project
from memchat.project.generate import Generator
from memchat.project.intents import IntentMatcher
from memchat.project.interpreter import Interpreter
from memchat.project.numbers import entity_cues, number_cues
from memchat.project.rules import compile_intent_rules, compile_rules, memoized_intent_rules
from memchat.project.spec import LISTEN, TEMPLATE_SLOT, BotSpec, payload_words

SAMPLES = 50  # training dialogues per story or rule ([generate] samples)
# at most about this many training dialogues in all, unless [generate] samples says: a project of
# 300 stories (Rasa's Sara) samples each fewer times (never under MIN_SAMPLES) and trains in a minute
DIALOGUE_BUDGET = 3000
MIN_SAMPLES = 8
DEV_BUDGET = 400  # dev dialogues in all, likewise (a dev pass each epoch)
# A project's dev dialogues come from its own stories, so dev accuracy saturates long before the
# model generalizes to stories' combinations it never saw: train longer than on dialog bAbI.
PROJECT_DEFAULTS = dict(dim=64, hops=3, memory=100, dropout=0.2, epochs=100, patience=10, min_epochs=40, threads=1)
SUBWORDS = 4096  # hashed character n-gram buckets: people's slips and word forms share features
DEV_SAMPLES = 3  # dev dialogues per story or rule, drawn with another seed ([generate] dev_samples)


def read_project(folder, seed: int, given: dict, domain: str | None = None):
    from memchat.nn.batches import encode_dialogs
    from memchat.nn.training_data import TrainingData, configs, feature_settings, folder_settings

    project = Project.read(folder, domain=domain)
    settings = feature_settings({**PROJECT_DEFAULTS, **folder_settings(project.folder), **given})
    generate = project.settings.get("generate", {})
    unknown = set(generate) - {"samples", "dev_samples"}
    if unknown:
        from memchat.errors import MemchatError

        raise MemchatError(
            f"{project.folder / 'config.toml'}: [generate] {sorted(unknown)[0]}: unknown setting (samples, dev_samples)"
        )
    spec = bot_spec(project)
    table = EntityTable.from_values(project.entity_values(), project.synonyms())
    interpreter = Interpreter(
        table,
        spec.slot_mappings,
        spec.intent_examples,
        duckling=spec.duckling,
        number_cues=spec.number_cues,
        ignored_intents=spec.ignored_intents,
        number_entities=spec.number_entities,
    )
    stories = max(1, len(project.data.stories))
    samples = generate.get("samples") or max(MIN_SAMPLES, min(SAMPLES, DIALOGUE_BUDGET // stories))
    train = Generator(project, interpreter, seed).dialogs(int(samples))
    dev_samples = generate.get("dev_samples") or max(1, min(DEV_SAMPLES, DEV_BUDGET // stories))
    dev = Generator(project, interpreter, seed + 7919).dialogs(int(dev_samples))
    candidates = [LISTEN, *spec.responses, *spec.actions, *spec.forms]
    said = {t.text for d in train for t in d.turns if t.speaker == "bot"}
    candidates = [c for c in candidates if c in said or c == LISTEN] + sorted(said - set(candidates))
    texts = [candidate_text(c, spec) for c in candidates]
    subwords = settings.get("subwords", SUBWORDS) if settings["context"] else 0  # --paper: the paper's features
    featurizer = Featurizer.for_project(train, candidates, texts, table, context=settings["context"], subwords=subwords)
    featurizer.correct_slips()  # live, a slip in a word or an entity value still finds it
    # the intent matcher's table, on the entity table the bundle will load: a start reads it
    spec.intent_index = IntentMatcher(spec.intent_examples, featurizer.entities).index()
    config, train_cfg = configs(settings, featurizer, seed)
    sources = {
        "project": str(project.folder),
        "stories": len(project.data.stories),
        "train": [],
        "dev": [],
        "notes": project.notes,
    }
    extra = {
        "fuzzy": True,
        "bot": spec.to_dict(),
        "project": {"name": project.folder.resolve().name, "hash": project.content_hash()},
    }
    return TrainingData(
        sources,
        featurizer,
        config,
        train_cfg,
        encode_dialogs(featurizer, train),
        encode_dialogs(featurizer, dev) if dev else None,
        extra,
        None,
    )


def bot_spec(project: Project) -> BotSpec:
    d = project.domain
    intent_rules = compile_intent_rules(project.data.stories)
    intent_rules += memoized_intent_rules(project.data.stories, intent_rules)
    kb = None
    if project.kb:
        k = project.kb
        kb = {
            "rows": k.rows,
            "name": k.name_column,
            "rank": k.rank_column,
            "search": k.search_action,
            "suggest": k.suggest_action,
        }
    return BotSpec(
        responses=d.responses,
        actions=list(d.actions),
        forms=d.forms,
        slot_entities={name: slot.entities for name, slot in d.slots.items()},
        slot_mappings={name: slot.mappings for name, slot in d.slots.items()},
        intent_examples=intent_examples(project, bool(intent_rules)),
        initial_slots={name: str(slot.initial).lower() for name, slot in d.slots.items() if slot.initial is not None},
        quiet_slots=[name for name, slot in d.slots.items() if not slot.influence],
        kb=kb,
        rules=compile_rules(project.data.stories),
        intent_rules=intent_rules,
        value_cues=value_cues(project),
        form_resumes=form_resumes(project),
        form_waits=form_waits(project),
        action_results=action_results(project),
        intent_sure=dict(project.settings.get("rules", {})),
        ignored_intents={f: i for f, i in d.ignored_intents.items() if i},
        intent_templates=intent_templates(project),
        duckling=project.duckling,
        number_cues=number_cues([ex.text for exs in project.data.examples.values() for ex in exs])
        if "number" in project.duckling
        else [],
        number_entities=entity_cues(
            [ex for exs in project.data.examples.values() for ex in exs], project.number_entities()
        ),
        slot_types={name: slot.type for name, slot in d.slots.items()},
        action_endpoint=project.action_endpoint,
    )


def intent_templates(project: Project) -> dict[str, dict[str, str]]:
    """For each intent, its most typical NLU example of each set of entities it is annotated
    with, its values as ``{entity}``: what a payload message (``/inform{"cuisine": "thai"}``, a
    core test's intent) reads as. A retrieval intent's sub-intents (``faq/ee``) give ``faq`` too."""
    grouped: dict[str, list] = {}
    for name, examples in project.data.examples.items():
        grouped.setdefault(name, []).extend(examples)
        if "/" in name:
            grouped.setdefault(name.split("/")[0], []).extend(examples)
    out: dict[str, dict[str, str]] = {}
    for name, examples in grouped.items():
        by_key: dict[str, list] = {}
        for ex in examples:
            by_key.setdefault(",".join(sorted(ex.entity_types)), []).append(ex)
        out[name] = {key: _template(_typical(exs)) for key, exs in by_key.items()}
    for name in project.domain.intents:  # an intent without examples is still a payload
        out.setdefault(name, {"": payload_words(name)})
    return out


def _typical(examples: list) -> object:
    """The example nearest the centroid of all of them by word counts (the first of equals): the
    intent's usual wording, not whatever its author wrote first ("whats [playground](product)")."""
    if len(examples) <= 2:
        return examples[0]
    bags = [Counter(tokenize(ex.text)) for ex in examples]
    centre = Counter()
    for bag in bags:
        norm = sum(v * v for v in bag.values()) ** 0.5 or 1.0
        for w, v in bag.items():
            centre[w] += v / norm
    scores = []
    for bag in bags:
        norm = sum(v * v for v in bag.values()) ** 0.5 or 1.0
        scores.append(sum(v * centre[w] for w, v in bag.items()) / norm)
    return examples[max(range(len(examples)), key=lambda i: (scores[i], -i))]


def _template(ex) -> str:
    """An example's text with each entity as ``{entity}``."""
    text, pos = [], 0
    for start, end, entity, _ in sorted(ex.entities):
        text += [ex.text[pos:start].replace("{", "(").replace("}", ")"), "{" + entity + "}"]
        pos = end
    text.append(ex.text[pos:].replace("{", "(").replace("}", ")"))
    return "".join(text)


def action_results(project: Project) -> dict[str, str]:
    """The responses that tell a custom action's result: those every story and rule says right
    after the same custom action (``slot_was_set`` steps between them aside), as "That was the
    last one I know of" after the suggestion. Said anywhere else, they would tell a result that
    is not there."""
    actions, responses = set(project.domain.actions), project.domain.responses
    after: dict[str, set[str | None]] = {}
    for story in project.data.stories:
        before = None
        for step in story.steps:
            if step.kind == "slot_was_set":
                continue
            if step.kind == "action" and step.name in responses:
                after.setdefault(step.name, set()).add(before if before in actions else None)
            before = step.name if step.kind == "action" else None
    return {r: a for r, (a, *more) in sorted(after.items()) if not more and a is not None}


def form_resumes(project: Project) -> list[str]:
    """The responses a story or rule follows straight away with a form (``- action: utter_x``,
    ``- action: booking_form``): what may interrupt a form, which then goes on."""
    forms, responses, out = project.domain.forms, project.domain.responses, set()
    for story in project.data.stories:
        for a, b in zip(story.steps, story.steps[1:]):
            if a.kind == b.kind == "action" and a.name in responses and b.name in forms:
                out.add(a.name)
    return sorted(out)


def form_waits(project: Project) -> list[str]:
    """The responses a story or rule follows with a user step while a form is active (``- action:
    utter_ask_continue``, ``- intent: deny``): after one, the bot waits for the answer."""
    forms, responses, out = project.domain.forms, project.domain.responses, set()
    for story in project.data.stories:
        active = next((s.name for s in story.condition if s.kind == "active_loop" and s.name), None)
        for a, b in zip(story.steps, story.steps[1:]):
            if a.kind == "active_loop":
                active = a.name or None
            elif a.kind == "action" and a.name in forms and b.kind == "active_loop":
                active = b.name or None
            if active and a.kind == "action" and a.name in responses and b.kind in ("intent", "or"):
                out.add(a.name)
    return sorted(out)


def value_cues(project: Project, least: int = 3, share: float = 0.5) -> dict[str, dict[str, list[str]]]:
    """The words right before and right after each entity's values in the NLU examples ("in"
    before a location, "food" after a cuisine): those beside this entity's values at least
    ``least`` times and in ``share`` of the examples' words they are followed (or preceded) by."""
    beside: dict[str, Counter] = {"before": Counter(), "after": Counter()}
    anywhere: dict[str, Counter] = {"before": Counter(), "after": Counter()}
    for examples in project.data.examples.values():
        for ex in examples:
            tokens = tokenize(ex.text)
            anywhere["before"].update(tokens[:-1])  # a word with a word after it
            anywhere["after"].update(tokens[1:])
            for start, end, entity, _ in ex.entities:
                head, tail = tokenize(ex.text[:start]), tokenize(ex.text[end:])
                for side, word in (("before", head[-1] if head else None), ("after", tail[0] if tail else None)):
                    if word is not None and word.isalpha():
                        beside[side][entity, word] += 1
    cues: dict[str, dict[str, list[str]]] = {}
    for side, counts in beside.items():
        for (entity, word), n in sorted(counts.items()):
            if n >= least and n >= share * anywhere[side][word]:
                cues.setdefault(entity, {"before": [], "after": []})[side].append(word)
    return cues


def candidate_text(action: str, spec: BotSpec) -> str:
    """What an action is embedded by: its name, and the words of its first response (a slot
    placeholder as the slot's name)."""
    variations = spec.responses.get(action) or []
    text = next((v["text"] for v in variations if v.get("text")), "")
    return f"{action} {TEMPLATE_SLOT.sub(lambda m: m.group(1), text)}".strip()


def bundle_name(folder) -> str:
    """``models/<name>`` of the bot in ``folder``: its folder's name, and a hash of where it is,
    so that two projects named alike never share a bundle."""
    import hashlib
    from pathlib import Path

    where = Path(folder).resolve()
    return f"{where.name}-{hashlib.sha256(str(where).encode()).hexdigest()[:6]}"


def stale_reason(folder, bundle) -> str | None:
    """Why the bundle at ``bundle`` must be trained (again) from ``folder``; None when it is current."""
    import json
    from pathlib import Path

    from memchat.project.folder import hash_folder

    meta = Path(bundle) / "metadata.json"
    if not meta.is_file():
        return "no bundle yet"
    try:
        trained = json.loads(meta.read_text(encoding="utf-8")).get("source_hash")
    except (OSError, ValueError):
        return "its bundle is damaged"
    if trained != hash_folder(Path(folder)):
        return "files changed since it was trained"
    return None


def intent_examples(project: Project, intent_rules: bool = False) -> dict[str, list[str]]:
    """The NLU examples, when a slot mapping names intents (``from_intent``, ``intent:``) or the
    project has intent rules (``intent_rules``): the bot then needs them live to tell a message's
    intent; otherwise nothing."""
    if (
        not intent_rules
        and not any(project.domain.ignored_intents.values())
        and not any(
            "intent" in m or "not_intent" in m or m["type"] == "from_intent"
            for slot in project.domain.slots.values()
            for m in slot.mappings
        )
    ):
        return {}
    return {name: [ex.text for ex in examples] for name, examples in project.data.examples.items()}
