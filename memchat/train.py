"""Training a memory network: the loop, early stopping on dev accuracy, and per-task defaults."""

from __future__ import annotations

import copy
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from memchat.dialogs import Dialog, KBFact
from memchat.errors import MemchatError
from memchat.evaluate import Scores, predict, score
from memchat.featurize import Batch, EncodedDialogs, Featurizer
from memchat.model import MemN2N, MemN2NConfig


@dataclass
class TrainConfig:
    epochs: int = 60  # most epochs to run
    patience: int = 5  # stop after this many epochs without a better dev accuracy
    min_delta: float = 0.0005  # a smaller gain still keeps the weights but does not reset patience
    batch_dialogs: int = 32  # dialogues per batch (each brings all its bot turns)
    lr: float = 0.01  # Adam learning rate at the first epoch
    lr_decay: float = 0.95  # learning rate factor per epoch: late spikes were undoing good epochs
    clip: float = 40.0  # gradient norm clipping
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
        f.name: f.type for f in fields(MemN2NConfig) if f.name in ("dim", "hops", "memory", "match", "context", "dropout")}
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
    2: dict(dim=64, hops=1, memory=100, lr_decay=1.0, patience=20, epochs=100),  # leaving a 92% plateau takes 20-40 epochs at full lr
    3: dict(dim=64, hops=3, memory=100),
    4: dict(dim=64, hops=1, memory=100),
    5: dict(dim=32, hops=3, memory=100, dropout=0.2),  # d 64 measured no more accurate and 1.5x slower
    6: dict(dim=64, hops=3, memory=100, dropout=0.2),
}


def prepare(
    settings: dict, train_dialogs: Sequence[Dialog], candidates: Sequence[str] | None, facts: Iterable[KBFact],
    seed: int = 0,
) -> tuple[Featurizer, MemN2NConfig, TrainConfig]:
    """The featurizer, model config and training config for ``settings`` (MemN2NConfig and
    TrainConfig fields). Match and context features are on unless settings turn them off."""
    settings = dict(settings)
    settings["match"] = settings.get("match", True)
    settings["context"] = settings["match"] and settings.get("context", True)
    featurizer = Featurizer.from_training(train_dialogs, candidates, facts, context=settings["context"])
    model_fields = set(MemN2NConfig.__dataclass_fields__) - {"vocab_size", "num_entity_types"}
    config = MemN2NConfig(
        vocab_size=len(featurizer.vocab),
        num_entity_types=len(featurizer.entities.types),
        **{k: v for k, v in settings.items() if k in model_fields},
    )
    train_cfg = TrainConfig(seed=seed, **{k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__})
    return featurizer, config, train_cfg


def bucketed_batches(
    featurizer: Featurizer, enc: EncodedDialogs, size: int, generator: torch.Generator
) -> list[Batch]:
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
        if acc > best_acc:
            best_acc = acc
            result.best_epoch, result.best_dev = epoch, dev
            best_state = copy.deepcopy(model.state_dict())
        if dev and (dev.per_response >= 1.0 or since_best >= cfg.patience):
            break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result
