"""Training and scoring speed on dialog bAbI task 5, with the defaults `memchat train --task 5` uses.

Prints examples/s, seconds per epoch (median), seconds to first reach 98% dev per-response
accuracy (dev evaluations included), peak memory, and scoring speed: ms per response over the
dev set in batches, and for a batch of one (one conversation, all 4,212 candidates).

    python bench/train_speed.py [../shared/data/dialog-bAbI-tasks] [--runs 3] [--paper]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from live_reply import live_reply_times, summary  # bench/live_reply.py

from memchat.babi.files import read_dialogs
from memchat.nn.bundle import load_bundle, save_bundle
from memchat.nn.evaluate import predict, score
from memchat.nn.ranker import Ranker
from memchat.nn.training_data import TrainingData
from memchat.train import read_training_data

DATA = Path(__file__).resolve().parents[2] / "shared/data/dialog-bAbI-tasks"


def one_run(data: TrainingData, seed: int):
    start = time.perf_counter()
    reached = []

    def on_epoch(r):
        if r.dev and r.dev.per_response >= 0.98 and not reached:
            reached.append(time.perf_counter() - start)

    model, result = data.fit(seed, on_epoch=on_epoch)
    return model, result, (reached[0] if reached else None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=DATA)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--paper", action="store_true", help="the paper's features only (memchat train --paper)")
    args = ap.parse_args()
    data = read_training_data(args.data, 5, context=False if args.paper else None)
    feat, train_enc, dev_enc = data.featurizer, data.train_enc, data.dev_enc
    dev_d = [d for p in data.files.dev for d in read_dialogs(p)]
    print(
        f"task 5: {train_enc.num_examples} training replies, {dev_enc.num_examples} dev replies, "
        f"{len(feat.candidates)} candidates; torch threads {torch.get_num_threads()}"
    )

    epoch_times, to98, finals = [], [], []
    for seed in range(args.runs):
        model, result, reached = one_run(data, seed)
        epoch_times += [r.seconds for r in result.epochs]
        to98.append(reached)
        finals.append(result.best_dev.per_response)
        print(
            f"  run {seed}: {len(result.epochs)} epochs, best dev {result.best_dev.per_response:.4f} "
            f"(epoch {result.best_epoch}), 98% dev after "
            + (f"{reached:.1f} s" if reached else "never")
            + f", whole run {result.seconds:.1f} s"
        )
    epoch = statistics.median(epoch_times)
    print(f"seconds per epoch (median of {len(epoch_times)}): {epoch:.3f}")
    print(f"training examples/s: {train_enc.num_examples / epoch:.0f}")
    hit = [t for t in to98 if t is not None]
    print(
        f"seconds to 98% dev per-response (median of {len(hit)}/{len(to98)} runs that reached it): "
        + (f"{statistics.median(hit):.1f}" if hit else "-")
    )
    print(f"best dev per-response (median of {len(finals)}): {statistics.median(finals):.4f}")

    # scoring: the whole dev set in batches
    times = []
    for _ in range(5):
        t = time.perf_counter()
        pred = predict(model, feat, dev_enc)
        times.append(time.perf_counter() - t)
    print(
        f"scoring in batches: {statistics.median(times) / dev_enc.num_examples * 1000:.4f} ms per response "
        f"(dev per-response {score(pred, dev_enc).per_response:.4f})"
    )

    # scoring one response through the live path (memchat.nn.ranker, numpy), tokenizing included,
    # on the bundle saved and loaded again, as a server would have it
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_bundle(save_bundle(Path(tmp) / "b", model, feat, {}))
    samples = live_reply_times(Ranker.from_bundle(bundle), dev_d[:500])
    print(f"scoring one response (live path, {len(feat.candidates)} candidates): " + summary(samples))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
