"""Training progress: a tqdm bar per epoch on a terminal, one plain line per epoch elsewhere."""

from __future__ import annotations

import sys

from tqdm import tqdm

from memchat.train import EpochReport


class EpochProgress:
    def __init__(self, dialogs: int, epochs: int):
        self.dialogs, self.epochs = dialogs, epochs
        self.live = sys.stderr.isatty()
        self.bar: tqdm | None = None
        self.epoch_no = 1

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None

    def batch(self, done: int, loss: float) -> None:
        if not self.live:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=self.dialogs,
                desc=f"epoch {self.epoch_no}/{self.epochs}",
                unit="dlg",
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )
        self.bar.n = done
        self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self.bar.refresh()

    def epoch(self, report: EpochReport) -> None:
        dev = f"{report.dev.per_response:.4f}" if report.dev else "-"
        if self.bar:
            self.bar.set_postfix(loss=f"{report.loss:.4f}", dev=dev)
            self.bar.close()
            self.bar = None
        else:
            print(
                f"epoch {report.epoch}/{self.epochs}: loss {report.loss:.4f}, dev {dev}, {report.seconds:.2f} s",
                file=sys.stderr,
                flush=True,
            )
        self.epoch_no = report.epoch + 1
