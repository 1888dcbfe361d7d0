"""Training progress: on a terminal, one tqdm bar over the epochs that updates in place (the
epoch, its loss and dev accuracy); elsewhere (a log, a pipe) one plain line per epoch."""

from __future__ import annotations

import sys

from tqdm import tqdm

from memchat.nn.trainer import EpochReport


class EpochProgress:
    def __init__(self, dialogs: int, epochs: int, live: bool | None = None):
        self.dialogs, self.epochs = dialogs, epochs
        self.live = sys.stderr.isatty() if live is None else live
        self.bar: tqdm | None = None
        self.dev = "-"

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None

    def _bar(self) -> tqdm:
        if self.bar is None:
            self.bar = tqdm(total=self.epochs, desc="training", unit="epoch", file=sys.stderr, dynamic_ncols=True)
        return self.bar

    def batch(self, done: int, loss: float) -> None:
        """Within an epoch: the share of its dialogues done, on the one bar."""
        if self.live:
            self._bar().set_postfix_str(f"epoch {done * 100 // max(self.dialogs, 1)}%, loss {loss:.4f}, dev {self.dev}")

    def epoch(self, report: EpochReport) -> None:
        self.dev = f"{report.dev.per_response:.4f}" if report.dev else "-"
        if self.live:
            bar = self._bar()
            bar.update(report.epoch - bar.n)
            bar.set_postfix_str(f"loss {report.loss:.4f}, dev {self.dev}")
        else:
            print(
                f"epoch {report.epoch}/{self.epochs}: loss {report.loss:.4f}, dev {self.dev}, {report.seconds:.2f} s",
                file=sys.stderr,
                flush=True,
            )
