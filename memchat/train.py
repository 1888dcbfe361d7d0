"""Training a memory network: one library call from a folder to a bundle (``train_bot``), the loop
with early stopping on dev accuracy, and per-task defaults.

    bundle = train_bot("dialogues", seed=0)                 # read, featurize, train, save
    data = TrainingData.read(path, task=5); model, result = data.fit(seed=1)   # the steps, for benches

The command line (``memchat train``) only parses its flags, calls ``train_bot`` and prints.
"""

from __future__ import annotations

import copy
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

import torch

from memchat.babi import BOT, KB, SILENCE, USER, Dialog, KBFact, read_candidates, read_dialogs, read_kb
from memchat.batches import Batch, EncodedDialogs
from memchat.bundle import Bundle, bundle_metadata, save_bundle
from memchat.errors import MemchatError
from memchat.evaluate import predict, score
from memchat.featurize import Featurizer
from memchat.model import MemN2N, MemN2NConfig
from memchat.scores import Scores
from memchat.taskfiles import find_task_files


@dataclass
class TrainConfig:
    epochs: int = 60  # most epochs to run
    patience: int = 5  # stop after this many epochs without a better dev accuracy
    min_delta: float = 0.0005  # a smaller gain still keeps the weights but does not reset patience
    batch_dialogs: int = 32  # dialogues per batch (each brings all its bot turns)
    lr: float = 0.01  # Adam learning rate at the first epoch
    lr_decay: float = 0.95  # learning rate factor per epoch: late spikes were undoing good epochs
    clip: float = 40.0  # gradient norm clipping
    min_epochs: int = 0  # train at least this long, keeping the latest of equally good epochs (projects)
    threads: int = 0  # torch threads while training; 0: torch's default. Small models: 1 (no spinning threads)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


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


# Defaults per dialog bAbI task, chosen on the dev sets (the paper's Table 9 was the start).
# Keys are MemN2NConfig and TrainConfig fields.
TASK_DEFAULTS: dict[int | None, dict] = {
    None: dict(dim=64, hops=3, memory=100, dropout=0.2),
    1: dict(dim=64, hops=1, memory=100),
    2: dict(
        dim=64, hops=1, memory=100, lr_decay=1.0, patience=20, epochs=100
    ),  # leaving a 92% plateau takes 20-40 epochs at full lr
    3: dict(dim=64, hops=3, memory=100),
    4: dict(dim=64, hops=1, memory=100),
    5: dict(dim=32, hops=3, memory=100, dropout=0.2),  # d 64 measured no more accurate and 1.5x slower
    6: dict(dim=64, hops=3, memory=100, dropout=0.2),
}


def check_replies(dialogs: Sequence[Dialog], candidates: set[str], source: Path) -> None:
    """With a candidates file, every bot reply of the dialogues is one of them: a reply that is
    not (a typo, a file from another task) is one line naming its file and line."""
    for d in dialogs:
        for t in d.turns:
            if t.speaker == BOT and t.text not in candidates:
                raise MemchatError(f"{d.source}:{t.line}: bot reply not among the candidates of {source}: {t.text!r}")


def check_settings(settings: dict) -> None:
    """Settings are MemN2NConfig and TrainConfig fields: one line for any other."""
    unknown = set(settings) - set(TrainConfig.__dataclass_fields__) - set(MemN2NConfig.__dataclass_fields__)
    if unknown:
        raise MemchatError(f"unknown training setting '{sorted(unknown)[0]}'")


def continue_after(dialogs: Sequence[Dialog]) -> list[str]:
    """The replies after which the user, in most training dialogues, lets the bot go on (the next
    user turn is ``<SILENCE>``): a dialog bAbI bot says its next reply at once after these, so
    nobody has to send an empty message."""
    silent: dict[str, list[int]] = {}
    for d in dialogs:
        turns = [t for t in d.turns if t.speaker != KB]
        for t, nxt in zip(turns, turns[1:]):
            if t.speaker == BOT and nxt.speaker == USER:
                silent.setdefault(t.text, [0, 0])[nxt.text == SILENCE] += 1
    return sorted(r for r, (talked, quiet) in silent.items() if quiet > talked)


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


def bucketed_batches(featurizer: Featurizer, enc: EncodedDialogs, size: int, generator: torch.Generator) -> list[Batch]:
    """Batches of dialogues of similar length, built once: padding stays small, and an epoch
    only shuffles their order (rebuilding batches every epoch costs as much as training them)."""
    lengths = enc.start[1:] - enc.start[:-1]
    jitter = torch.rand(enc.num_dialogs, generator=generator)  # random order among equal lengths
    order = torch.argsort(lengths.float() + jitter)
    return [featurizer.batch(enc, order[i : i + size], training=True) for i in range(0, len(order), size)]


@dataclass
class EpochReport:
    epoch: int
    loss: float
    seconds: float  # training time of this epoch, dev evaluation excluded
    dev: Scores | None


@dataclass
class TrainResult:
    best_epoch: int
    best_dev: Scores | None
    epochs: list[EpochReport] = field(default_factory=list)
    seconds: float = 0.0  # whole training, dev evaluations included


def train(
    model: MemN2N,
    featurizer: Featurizer,
    train_enc: EncodedDialogs,
    dev_enc: EncodedDialogs | None,
    cfg: TrainConfig,
    on_batch: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of the best dev epoch.

    Without dev dialogues every epoch counts as the best and training runs ``cfg.epochs`` epochs.
    ``on_batch(dialogs_done, loss)`` and ``on_epoch(report)`` feed a progress display.
    """
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(model, featurizer, train_enc, dev_enc, cfg, on_batch, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _train(model, featurizer, train_enc, dev_enc, cfg: TrainConfig, on_batch, on_epoch) -> TrainResult:
    torch.manual_seed(cfg.seed)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    batches = bucketed_batches(featurizer, train_enc, cfg.batch_dialogs, shuffle)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
    result = TrainResult(best_epoch=0, best_dev=None)
    best_state = copy.deepcopy(model.state_dict())
    best_acc, since_best = -1.0, 0
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        total, count, done = 0.0, 0, 0
        for b in torch.randperm(len(batches), generator=shuffle).tolist():
            batch = batches[b]
            done += len(batch.slot_mask)
            known = batch.gold >= 0
            if not bool(known.any()):
                continue
            loss = model.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            n = int(known.sum())
            total, count = total + float(loss.detach()) * n, count + n
            if on_batch:
                on_batch(done, float(loss.detach()))
        schedule.step()
        seconds = time.perf_counter() - t0
        dev = score(predict(model, featurizer, dev_enc), dev_enc) if dev_enc else None
        report = EpochReport(epoch, total / max(count, 1), seconds, dev)
        result.epochs.append(report)
        if on_epoch:
            on_epoch(report)
        acc = dev.per_response if dev else float(epoch)
        since_best = 0 if acc >= best_acc + cfg.min_delta else since_best + 1
        if acc > best_acc or (epoch <= cfg.min_epochs and acc >= best_acc):
            best_acc = acc
            result.best_epoch, result.best_dev = epoch, dev
            best_state = copy.deepcopy(model.state_dict())
        if dev and epoch >= cfg.min_epochs and (dev.per_response >= 1.0 or since_best >= cfg.patience):
            break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class TrainingData:
    """A folder's (or a file's) dialogues read and encoded, with the featurizer and the configs
    its settings give: everything a training run needs but the seed. A dialog bAbI folder is
    read as it is; a bot project (``memchat.project``) is turned into dialogues first."""

    sources: dict  # what the bundle's metadata keeps of where the data came from
    featurizer: Featurizer
    config: MemN2NConfig
    train_cfg: TrainConfig
    train_enc: EncodedDialogs
    dev_enc: EncodedDialogs | None
    extra: dict = field(default_factory=dict)  # more for the bundle: a project bot's runtime, its hash
    task: int | None = None

    @classmethod
    def read(cls, path: str | Path, task: int | None = None, seed: int = 0, **settings) -> TrainingData:
        """``settings`` (MemN2NConfig and TrainConfig fields; None means "not given") win over the
        folder's config.toml, which wins over the task's defaults."""
        from memchat.project.folder import is_project

        path = Path(path)
        given = {k: v for k, v in settings.items() if v is not None}
        check_settings(given)
        if is_project(path):
            from memchat.project.build import read_project

            return read_project(path, seed, given)
        files = find_task_files(path, task)
        merged = dict(TASK_DEFAULTS.get(files.task, TASK_DEFAULTS[None]))
        merged.update(folder_settings(path if path.is_dir() else path.parent))
        merged.update(given)
        train_dialogs = [d for p in files.train for d in read_dialogs(p)]
        dev_dialogs = [d for p in files.dev for d in read_dialogs(p)]
        candidates = read_candidates(files.candidates) if files.candidates else None
        if candidates is not None:
            check_replies(train_dialogs + dev_dialogs, set(candidates), files.candidates)
        facts = [f for p in files.kb for f in read_kb(p)]
        featurizer, config, train_cfg = prepare(merged, train_dialogs, candidates, facts, seed)
        sources = {
            "train": [str(p) for p in files.train],
            "dev": [str(p) for p in files.dev],
            "candidates": str(files.candidates) if files.candidates else None,
            "kb": [str(p) for p in files.kb],
            "task": files.task,
        }
        dev = featurizer.encode(dev_dialogs) if dev_dialogs else None
        # live, read a slip as the word it stands for (features beyond the paper's, like the context ones)
        extra = {"continue_after": continue_after(train_dialogs), "fuzzy": bool(config.context)}
        return cls(sources, featurizer, config, train_cfg, featurizer.encode(train_dialogs), dev, extra, files.task)

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
        model = MemN2N(self.config, self.featurizer.cand_bow, self.featurizer.cand_ent)
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


def train_bot(
    path: str | Path,
    task: int | None = None,
    *,
    out: str | Path = "models",
    name: str | None = None,
    seed: int = 0,
    match: bool | None = None,
    context: bool | None = None,
    on_start: Callable[[TrainingData], None] | None = None,
    on_batch: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    **settings,
) -> tuple[Bundle, TrainResult]:
    """Train a bot on the dialogues at ``path`` (a folder or a ``-trn.txt`` file) and write its
    bundle to ``out/name`` (default name ``task<N>-<date>-<time>``); returns the bundle, loaded,
    and the run's figures.

    ``settings`` are MemN2NConfig and TrainConfig fields (``dim=32``, ``epochs=10``...); ``match=False``
    leaves out the match features (and the context ones with them), ``context=False`` keeps the
    paper's features only. The callbacks feed a progress display."""
    if match is False:
        settings["match"] = False
    if context is False:
        settings["context"] = False
    data = TrainingData.read(path, task, seed=seed, **settings)
    if on_start:
        on_start(data)
    model, result = data.fit(on_batch=on_batch, on_epoch=on_epoch)
    if not name:
        prefix = f"task{data.task}" if data.task is not None else "model"
        name = f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}"
    extra = data.describe(result)
    if Path(path).is_dir():  # memchat start and test retrain when the folder changes
        from memchat.project.folder import hash_folder

        extra["source_hash"] = hash_folder(Path(path))
    metadata = bundle_metadata(model, data.featurizer, extra)
    path = save_bundle(Path(out) / name, model, data.featurizer, metadata=metadata)
    return Bundle.of_model(model, data.featurizer, metadata, path), result
