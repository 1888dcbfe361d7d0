"""The training loop: Adam over bucketed batches, early stopping on dev accuracy, the best
epoch's weights kept. It knows dialogues only as encoded tensors (``EncodedDialogs``)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from memchat.nn.batches import Batch, EncodedDialogs, make_batch
from memchat.nn.evaluate import predict, score
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N
from memchat.nn.scores import Scores


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


def bucketed_batches(featurizer: Featurizer, enc: EncodedDialogs, size: int, generator: torch.Generator) -> list[Batch]:
    """Batches of dialogues of similar length, built once: padding stays small, and an epoch
    only shuffles their order (rebuilding batches every epoch costs as much as training them)."""
    lengths = enc.start[1:] - enc.start[:-1]
    jitter = torch.rand(enc.num_dialogs, generator=generator)  # random order among equal lengths
    order = torch.argsort(lengths.float() + jitter)
    return [make_batch(featurizer, enc, order[i : i + size], training=True) for i in range(0, len(order), size)]


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
