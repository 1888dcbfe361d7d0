"""A bot project folder: reading it whole (``Project.read``), checking it, and its knowledge base.

The package docstring (``memchat/project/__init__.py``) gives the folder's layout.
"""

from __future__ import annotations

import csv
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from memchat.errors import MemchatError
from memchat.project.acts import extend as extend_acts
from memchat.project.data import TrainingData, read_data
from memchat.project.domain import Domain, read_domain
from memchat.project.numbers import SUPPORTED, duckling_dimensions, is_number
from memchat.project.spec import DEFAULT_ACTIONS, FALLBACK_INTENT, LISTEN, LOOP_ACTIONS, TEMPLATE_SLOT, ask_for

NUMBER_WORDS = (
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
RASA_FILES = ("config.yml", "endpoints.yml", "credentials.yml")  # Rasa's, not memchat's
SETTINGS = "config.toml"
# [rules]: when the bot is sure of a message's intent, for intent rules (IntentMatcher.certain)
RULE_SETTINGS = ("sure", "margin", "fallback")  # fallback: below it, the nearest example is too far (utter_default)


def is_project(folder: Path) -> bool:
    """A folder with ``domain.yml`` or a ``domain/`` folder is a bot project."""
    return folder.is_dir() and ((folder / "domain.yml").is_file() or (folder / "domain").is_dir())


@dataclass
class KnowledgeBase:
    """A table the bot searches: rows of column -> value, and which column names and ranks them."""

    rows: list[dict[str, str]]
    name_column: str  # identifies a row (a restaurant's name)
    rank_column: str | None  # best first when proposing (a rating); None: table order
    search_action: str  # filters rows by the slots named like columns
    suggest_action: str | None  # proposes the next best row not proposed yet
    file: str = ""


@dataclass
class Project:
    folder: Path
    domain: Domain
    data: TrainingData
    tests: TrainingData
    settings: dict = field(default_factory=dict)  # config.toml
    kb: KnowledgeBase | None = None
    notes: list[str] = field(default_factory=list)
    unsaid: set[str] = field(default_factory=set)
    duckling: list[str] = field(default_factory=list)  # config.yml's Duckling dimensions memchat finds
    action_endpoint: str | None = (
        None  # endpoints.yml's action_endpoint url  # intents without NLU examples (left out of training)
    )
    _values: dict[str, list[str]] | None = field(default=None, repr=False)

    @classmethod
    def read(cls, folder: str | Path, with_tests: bool = True, domain: str | Path | None = None) -> Project:
        """``domain``: the domain file or folder, as Rasa's ``--domain`` (relative to ``folder``);
        default ``domain.yml``, else ``domain/``."""
        folder = Path(folder)
        if domain is not None:
            domain_path = folder / domain
            if not domain_path.exists():
                raise MemchatError(f"{domain_path}: no such domain file or folder")
        elif not is_project(folder):
            raise MemchatError(f"{folder}: not a bot project (no domain.yml or domain/ folder)")
        else:
            domain_path = folder / "domain.yml" if (folder / "domain.yml").is_file() else folder / "domain"
        domain = read_domain(domain_path, folder)
        data_files = sorted(p for ext in ("*.yml", "*.yaml") for p in (folder / "data").rglob(ext))
        if not data_files:
            raise MemchatError(f"{folder}/data: no training data (*.yml files with nlu, stories, rules)")
        data = read_data(data_files, folder)
        test_files = sorted((folder / "tests").glob("*.yml")) if with_tests and (folder / "tests").is_dir() else []
        tests = read_data(test_files, folder, test=True)
        settings = read_settings(folder)
        acts_notes = extend_acts(data.examples, settings.get("acts"), f"{folder / SETTINGS}", domain.intents)
        domain.merge(data.responses, "data")  # responses in data files (retrieval intents')
        domain.notes += data.responses.notes
        for text in [
            *domain.e2e_actions,
            *(s.name for st in data.stories + tests.stories for s in _all_steps(st) if s.bot_text),
        ]:
            domain.responses.setdefault(text, [{"text": text}])  # a bot text of an end-to-end story says itself
        project = cls(folder, domain, data, tests, settings)
        project.notes = [
            f"{name}: Rasa's pipeline and policies are not read; memchat's settings are in {SETTINGS}"
            for name in RASA_FILES[:1]
            if (folder / name).is_file()
        ] + domain.notes
        project.notes += acts_notes + _unsaid_intents(project)
        project.duckling, unsupported = duckling_dimensions(folder)
        if unsupported:
            project.notes.append(
                f"config.yml: Duckling dimensions {', '.join(unsupported)} are not found in process "
                f"(memchat finds {', '.join(SUPPORTED)})"
            )
        for dim in project.duckling:  # Duckling's entities need no NLU annotation
            if dim not in domain.entities and any(dim in s.entities for s in domain.slots.values()):
                domain.entities.append(dim)
        project.action_endpoint = read_action_endpoint(folder)
        if "kb" in settings:
            project.kb = read_kb_table(folder, settings["kb"])
        check(project)
        return project

    def synonyms(self) -> dict[str, str]:
        """The NLU synonyms, and the words for numbers when an entity is made of numbers ("six" is 6;
        not "one", which people say of other things: "that one")."""
        out = dict(self.data.synonyms)
        if self.number_entities():
            for n, word in enumerate(NUMBER_WORDS, start=2):
                out.setdefault(word, str(n))
        return out

    def number_entities(self) -> list[str]:
        """The entities whose values are all whole numbers, in digits or words ("4", "two"): read
        in context (``numbers.find``), any size."""
        return [e for e, vals in self.entity_values().items() if vals and all(is_number(v) for v in vals)]

    def content_hash(self) -> str:
        """A hash of every file the bot is trained from: a bundle knows whether its project changed."""
        return hash_folder(self.folder)

    def entity_values(self) -> dict[str, list[str]]:
        """Each entity's known values (computed once; see ``_entity_values``)."""
        if self._values is None:
            self._values = self._entity_values()
        return self._values

    def _entity_values(self) -> dict[str, list[str]]:
        """Each entity's known values: annotated in NLU, lookup tables, synonyms' targets,
        categorical values of the slots it fills, and the knowledge-base column of its name."""
        values: dict[str, dict[str, None]] = {e: {} for e in self.domain.entities}
        for examples in self.data.examples.values():
            for ex in examples:
                for _, _, entity, value in ex.entities:
                    values.setdefault(entity, {})[value.lower()] = None
        for entity, items in self.data.lookups.items():
            if entity in values:
                values[entity].update(dict.fromkeys(v.lower() for v in items))
        for slot in self.domain.slots.values():
            for entity in slot.entities:
                values.setdefault(entity, {}).update(dict.fromkeys(v.lower() for v in slot.values))
        if self.kb:
            for entity in values:
                if self.kb.rows and entity in self.kb.rows[0]:
                    values[entity].update(dict.fromkeys(r[entity].lower() for r in self.kb.rows if r[entity]))
        for vals in values.values():  # an entity of numbers takes any number a person may say
            if vals and all(is_number(v) for v in vals):
                vals.update(dict.fromkeys(str(n) for n in range(1, 21)))
        canonical = set(self.data.synonyms.values())
        for vals in values.values():  # a synonym's target belongs to the entity whose value it replaces
            for surface, target in self.data.synonyms.items():
                if surface in vals and target not in vals:
                    vals[target.lower()] = None
            for v in list(vals):
                if v in self.data.synonyms and v not in canonical:
                    del vals[v]  # a surface form is an alias, not a value
        return {e: list(v) for e, v in values.items()}


def hash_folder(folder: Path) -> str:
    h = hashlib.sha256()
    skip = {"models", ".memchat", "__pycache__"}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not (set(rel.parts) & skip) and not rel.name.startswith(".") and p.suffix != ".db":
            h.update(str(rel).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def read_settings(folder: Path) -> dict:
    path = folder / SETTINGS
    if not path.is_file():
        return {}
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MemchatError(f"{path}: not valid TOML: {e}") from None
    unknown = set(settings) - {"train", "generate", "kb", "rules", "acts"}
    if unknown:
        raise MemchatError(f"{path}: [{sorted(unknown)[0]}]: unknown table (train, generate, kb, rules, acts)")
    rules = settings.get("rules", {})
    if not isinstance(rules, dict):
        raise MemchatError(f"{path}: rules: expected a table [rules]")
    for key, value in rules.items():
        if key not in RULE_SETTINGS:
            raise MemchatError(f"{path}: [rules] {key}: unknown setting ({', '.join(RULE_SETTINGS)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise MemchatError(f"{path}: [rules] {key}: expected a number from 0 to 1, got {value!r}")
    return settings


def read_kb_table(folder: Path, spec: dict) -> KnowledgeBase:
    where = f"{folder / SETTINGS}: [kb]"
    known = {"table", "name", "rank", "search", "suggest"}
    for key in spec:
        if key not in known:
            raise MemchatError(f"{where} {key}: unknown setting ({', '.join(sorted(known))})")
    if not isinstance(spec.get("table"), str) or not isinstance(spec.get("search"), str):
        raise MemchatError(f"{where}: 'table' (a CSV file) and 'search' (the action that searches it) are needed")
    path = folder / spec["table"]
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = []
            for row in reader:
                if None in row or any(v is None for v in row.values()):
                    raise MemchatError(f"{path}:{reader.line_num}: expected {len(reader.fieldnames)} columns")
                rows.append({k.strip(): v.strip() for k, v in row.items()})
    except FileNotFoundError:
        raise MemchatError(f"{where} table: {path}: no such file") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise MemchatError(f"{path}: not a CSV table ({e})") from None
    if not rows:
        raise MemchatError(f"{path}: no rows")
    columns = list(rows[0])
    name, rank = spec.get("name", columns[0]), spec.get("rank")
    for key, col in (("name", name), ("rank", rank)):
        if col is not None and col not in columns:
            raise MemchatError(f"{where} {key}: no column '{col}' in {path.name} ({', '.join(columns)})")
    return KnowledgeBase(rows, name, rank, spec["search"], spec.get("suggest"), str(path))


def check(project: Project) -> None:
    """Everything the stories, rules and NLU name must be declared; one line for the first that is not."""
    d, data = project.domain, project.data
    intents = set(d.intents)
    actions = set(d.action_names) | {LISTEN}
    retrieval = {name.split("/")[0] for name in data.examples if "/" in name}
    for name, examples in data.examples.items():
        if name.split("/")[0] not in intents:
            raise MemchatError(f"{data.where[f'intent {name}']}: intent '{name}' is not declared in the domain")
        for ex in examples:
            for _, _, entity, _ in ex.entities:
                if entity not in d.entities:
                    raise MemchatError(
                        f"{data.where[f'intent {name}']}: intent '{name}': entity '{entity}' "
                        "is not declared in the domain"
                    )
    for slot in d.slots.values():
        for entity in slot.entities:
            if entity not in d.entities:
                raise MemchatError(
                    f"{d.where[f'slots {slot.name}']}: slot '{slot.name}' maps entity '{entity}', "
                    "which is not declared in the domain"
                )
    for form, required in d.forms.items():
        for slot in required:
            if slot not in d.slots:
                raise MemchatError(f"{d.where[f'forms {form}']}: form '{form}': slot '{slot}' is not declared")
            if ask_for(form, slot, d.actions, d.responses) not in {*d.responses, *d.actions}:
                project.notes.append(  # Rasa trains, and the form asks with nothing said
                    f"{d.where[f'forms {form}']}: form '{form}' asks for '{slot}' with utter_ask_{slot}, "
                    "which is not a response of the domain: it will ask without a word"
                )
    for name, variations in d.responses.items():
        for v in variations:
            for c in v.get("condition") or []:
                if c["name"] not in d.slots:
                    raise MemchatError(
                        f"{d.where[f'responses {name}']}: response '{name}': its condition names slot "
                        f"'{c['name']}', which is not a slot of the domain"
                    )
            for slot in TEMPLATE_SLOT.findall(v.get("text") or ""):
                if slot not in d.slots:
                    raise MemchatError(
                        f"{d.where[f'responses {name}']}: response '{name}' fills "
                        f"{{{slot}}}, which is not a slot of the domain"
                    )
    for source in (data, project.tests):
        for story in source.stories:
            for step in _all_steps(story):
                _check_step(step, d, data, intents, actions, retrieval)


def read_action_endpoint(folder: Path) -> str | None:
    """``endpoints.yml``'s ``action_endpoint`` url: where the project's custom actions run."""
    from memchat.project.yamlfile import load_yaml

    path = folder / "endpoints.yml"
    if not path.is_file():
        return None
    doc = load_yaml(path, "endpoints.yml")
    endpoint = doc.get("action_endpoint") if isinstance(doc, dict) else None
    if endpoint is None:
        return None
    url = endpoint.get("url") if isinstance(endpoint, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise MemchatError(f"{doc.at('action_endpoint')}: action_endpoint: expected a 'url' (http://...)")
    return url


def _unsaid_intents(project: Project) -> list[str]:
    """Intents that stories or rules use but no NLU example says (Rasa warns, and goes on), one
    note each: a button's payload (``/get_started``) is said as its words in training; stories
    of ``nlu_fallback`` are left out."""
    data, notes, seen = project.data, [], set()
    retrieval = {name.split("/")[0] for name in data.examples if "/" in name}
    for story in data.stories:
        for step in _all_steps(story):
            if step.kind == "intent" and step.name and step.user is None and step.name not in seen:
                if step.name not in data.examples and step.name not in retrieval:
                    seen.add(step.name)
                    notes.append(
                        f"{step.at}: intent '{step.name}' has no NLU examples: "
                        + (
                            "the stories and rules that use it are left out of training (memchat says "
                            "utter_default to a message it cannot read)"
                            if step.name == FALLBACK_INTENT
                            else f"in training it is said as its payload '/{step.name}' reads"
                        )
                    )
    project.unsaid = seen
    return notes


def _all_steps(story):
    for step in [*story.condition, *story.steps]:
        yield step
        for option in step.options:
            yield from option


def _check_step(step, d: Domain, data: TrainingData, intents, actions, retrieval) -> None:
    if step.kind == "intent":
        if step.name and step.name not in intents:
            raise MemchatError(f"{step.at}: intent '{step.name}' is not declared in the domain")
        for entity, _ in step.entities:
            if entity not in d.entities:
                raise MemchatError(f"{step.at}: entity '{entity}' is not declared in the domain")
    elif step.kind == "action":
        base = step.name.split("/")[0]
        if step.bot_text or step.name in DEFAULT_ACTIONS:
            return
        if step.name not in actions and not (base.startswith("utter_") and base[6:] in retrieval and step.name == base):
            what = "response" if step.name.startswith("utter_") else "action"
            raise MemchatError(f"{step.at}: {what} '{step.name}' is used but not declared in the domain")
        if base.startswith("utter_") and base[6:] in retrieval:
            subs = [n for n in data.examples if n.startswith(base[6:] + "/")]
            missing = [s for s in subs if f"utter_{s}" not in d.responses]
            if missing:
                raise MemchatError(f"{step.at}: retrieval intent '{missing[0]}' has no response utter_{missing[0]}")
    elif step.kind == "slot_was_set":
        for slot, _ in step.slots:
            if slot not in d.slots and slot != "requested_slot":
                raise MemchatError(f"{step.at}: slot '{slot}' is not declared in the domain")
    elif step.kind == "active_loop" and step.name and step.name not in d.forms and step.name not in LOOP_ACTIONS:
        raise MemchatError(f"{step.at}: active_loop '{step.name}' is not a form of the domain")
