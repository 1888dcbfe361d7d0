"""A training set, whatever its source: the dialogues encoded, the featurizer, the model and
training configs their settings give (``TrainingData``); and the settings' checks and merging
(a folder's ``config.toml``, the defaults, the command line's flags)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from memchat.dialogs import Dialog, KBFact
from memchat.errors import MemchatError
from memchat.nn.batches import EncodedDialogs, candidate_bags, candidate_entities
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N, MemN2NConfig
from memchat.nn.trainer import EpochReport, TrainConfig, TrainResult, train

CONFIG_FILE = "config.toml"  # training settings a corpus folder may carry (memchat init writes one)


def folder_settings(folder: Path) -> dict:
    """The ``[train]`` table of ``folder/config.toml``: MemN2NConfig and TrainConfig fields."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text()).get("train", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MemchatError(f"{path}: not valid TOML: {e}") from None
    known = {f.name: f.type for f in fields(TrainConfig)} | {
        f.name: f.type
        for f in fields(MemN2NConfig)
        if f.name in ("dim", "hops", "memory", "match", "context", "dropout")
    }
    known.pop("seed")  # the command line's --seed, default 0, always wins
    for key, value in table.items():
        if key not in known:
            raise MemchatError(f"{path}: [train] {key}: unknown setting; known: {', '.join(sorted(known))}")
        want = {"int": int, "float": (int, float), "bool": bool}[str(known[key])]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise MemchatError(f"{path}: [train] {key}: expected {known[key]}, got {value!r}")
    return table


def check_settings(settings: dict) -> None:
    """Settings are MemN2NConfig and TrainConfig fields: one line for any other."""
    unknown = set(settings) - set(TrainConfig.__dataclass_fields__) - set(MemN2NConfig.__dataclass_fields__)
    if unknown:
        raise MemchatError(f"unknown training setting '{sorted(unknown)[0]}'")


def prepare(
    settings: dict,
    train_dialogs: Sequence[Dialog],
    candidates: Sequence[str] | None,
    facts: Iterable[KBFact],
    seed: int = 0,
) -> tuple[Featurizer, MemN2NConfig, TrainConfig]:
    """The featurizer, model config and training config for ``settings`` (MemN2NConfig and
    TrainConfig fields). Match and context features are on unless settings turn them off."""
    settings = feature_settings(settings)
    featurizer = Featurizer.from_training(
        train_dialogs,
        candidates,
        facts,
        context=settings["context"],
        subwords=settings.get("subwords", 0) if settings["context"] else 0,
    )
    return (featurizer, *configs(settings, featurizer, seed))


def feature_settings(settings: dict) -> dict:
    """``settings`` with match and context features on unless they turn them off."""
    settings = dict(settings)
    settings["match"] = settings.get("match", True)
    settings["context"] = settings["match"] and settings.get("context", True)
    return settings


def configs(settings: dict, featurizer: Featurizer, seed: int = 0) -> tuple[MemN2NConfig, TrainConfig]:
    """The model and training configs of ``settings`` for a featurizer's vocabulary and entities."""
    model_fields = set(MemN2NConfig.__dataclass_fields__) - {"vocab_size", "num_entity_types", "subwords"}
    config = MemN2NConfig(
        vocab_size=featurizer.size,
        subwords=featurizer.subwords,
        num_entity_types=len(featurizer.entities.types),
        **{k: v for k, v in settings.items() if k in model_fields},
    )
    train_cfg = TrainConfig(seed=seed, **{k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__})
    return config, train_cfg


@dataclass
class TrainingData:
    """Dialogues read and encoded, with the featurizer and the configs their settings give:
    everything a training run needs but the seed. A source makes it (``memchat.babi.source`` for
    a dialog bAbI folder, ``memchat.project.source`` for a bot project); the trainer reads no
    folder and knows neither."""

    sources: dict  # what the bundle's metadata keeps of where the data came from
    featurizer: Featurizer
    config: MemN2NConfig
    train_cfg: TrainConfig
    train_enc: EncodedDialogs
    dev_enc: EncodedDialogs | None
    extra: dict = field(default_factory=dict)  # more for the bundle: a project bot's runtime, its hash
    task: int | None = None

    def summary(self) -> str:
        """One line on what is about to be trained."""
        f, dev = self.featurizer, self.dev_enc
        names = ", ".join(Path(p).name for p in self.sources.get("train", [])) or (
            f"the {self.sources['stories']} stories and rules of {self.sources['project']}"
            if "project" in self.sources
            else ""
        )
        dev_names = ", ".join(Path(p).name for p in self.sources.get("dev", [])) or "drawn from them again"
        return (
            f"training on {self.train_enc.num_examples} replies in {self.train_enc.num_dialogs} dialogues"
            f" ({names}); dev: "
            + (f"{dev.num_examples} replies ({dev_names})" if dev else "none")
            + f"; {len(f.candidates)} candidates, {len(f.vocab)} words, {len(f.entities)} entities"
        )

    def fit(
        self,
        seed: int | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        on_epoch: Callable[[EpochReport], None] | None = None,
    ) -> tuple[MemN2N, TrainResult]:
        """A new model trained on this data (``seed``: default the one it was read with)."""
        cfg = self.train_cfg if seed is None else TrainConfig(**{**self.train_cfg.to_dict(), "seed": seed})
        torch.manual_seed(cfg.seed)
        model = MemN2N(self.config, candidate_bags(self.featurizer), candidate_entities(self.featurizer))
        result = train(model, self.featurizer, self.train_enc, self.dev_enc, cfg, on_batch=on_batch, on_epoch=on_epoch)
        return model, result

    def describe(self, result: TrainResult, cfg: TrainConfig | None = None) -> dict:
        """What a bundle's metadata keeps of the data and the run."""
        return {
            "train_config": (cfg or self.train_cfg).to_dict(),
            "data": self.sources,
            **self.extra,
            "training": {
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.epochs),
                "seconds": round(result.seconds, 2),
                "dev": result.best_dev.to_dict() if result.best_dev else None,
                "history": [
                    {
                        "epoch": r.epoch,
                        "loss": round(r.loss, 5),
                        "seconds": round(r.seconds, 3),
                        "dev_per_response": r.dev.per_response if r.dev else None,
                    }
                    for r in result.epochs
                ],
            },
        }
