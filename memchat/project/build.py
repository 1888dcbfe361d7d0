"""A bot project made ready to train: its dialogues generated, its actions as candidates, its
runtime (responses, forms, slots, knowledge base) for the bundle."""

from __future__ import annotations

from memchat.entities import EntityTable
from memchat.featurize import Featurizer
from memchat.project import Project
from memchat.project.domain import LISTEN, TEMPLATE_SLOT
from memchat.project.generate import Generator
from memchat.project.runtime import BotSpec, Interpreter

SAMPLES = 20  # training dialogues per story or rule ([generate] samples)
DEV_SAMPLES = 3  # dev dialogues per story or rule, drawn with another seed ([generate] dev_samples)


def read_project(folder, seed: int, given: dict):
    from memchat.train import TASK_DEFAULTS, TrainingData, configs, feature_settings, folder_settings

    project = Project.read(folder)
    settings = feature_settings({**TASK_DEFAULTS[None], **folder_settings(project.folder), **given})
    generate = project.settings.get("generate", {})
    unknown = set(generate) - {"samples", "dev_samples"}
    if unknown:
        from memchat.errors import MemchatError

        raise MemchatError(
            f"{project.folder / 'config.toml'}: [generate] {sorted(unknown)[0]}: unknown setting (samples, dev_samples)"
        )
    spec = bot_spec(project)
    table = EntityTable.from_values(project.entity_values(), project.data.synonyms)
    interpreter = Interpreter(table, spec.slot_entities)
    train = Generator(project, interpreter, seed).dialogs(int(generate.get("samples", SAMPLES)))
    dev = Generator(project, interpreter, seed + 7919).dialogs(int(generate.get("dev_samples", DEV_SAMPLES)))
    candidates = [LISTEN, *spec.responses, *spec.actions, *spec.forms]
    said = {t.text for d in train for t in d.turns if t.speaker == "bot"}
    candidates = [c for c in candidates if c in said or c == LISTEN] + sorted(said - set(candidates))
    texts = [candidate_text(c, spec) for c in candidates]
    featurizer = Featurizer.for_project(train, candidates, texts, table, context=settings["context"])
    config, train_cfg = configs(settings, featurizer, seed)
    sources = {
        "project": str(project.folder),
        "stories": len(project.data.stories),
        "train": [],
        "dev": [],
        "notes": project.notes,
    }
    extra = {"bot": spec.to_dict(), "project": {"name": project.folder.resolve().name, "hash": project.content_hash()}}
    return TrainingData(
        sources,
        featurizer,
        config,
        train_cfg,
        featurizer.encode(train),
        featurizer.encode(dev) if dev else None,
        extra,
        None,
    )


def bot_spec(project: Project) -> BotSpec:
    d = project.domain
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
        initial_slots={name: str(slot.initial).lower() for name, slot in d.slots.items() if slot.initial is not None},
        kb=kb,
    )


def candidate_text(action: str, spec: BotSpec) -> str:
    """What an action is embedded by: its name, and the words of its first response (a slot
    placeholder as the slot's name)."""
    variations = spec.responses.get(action) or []
    text = next((v["text"] for v in variations if v.get("text")), "")
    return f"{action} {TEMPLATE_SLOT.sub(lambda m: m.group(1), text)}".strip()
