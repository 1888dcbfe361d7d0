"""Training's progress: one bar updated in place on a terminal, a line per epoch elsewhere."""

import io

from memchat.cli.progress import EpochProgress
from memchat.nn.trainer import EpochReport


def run(live: bool, monkeypatch) -> str:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with EpochProgress(dialogs=10, epochs=5, live=live) as progress:
        for epoch in range(1, 6):
            for done in (5, 10):
                progress.batch(done, 0.5)
            progress.epoch(EpochReport(epoch, 0.5, 0.1, None))
    return err.getvalue()


def test_a_terminal_gets_one_bar_updated_in_place(monkeypatch):
    shown = run(True, monkeypatch)
    assert shown.count("\n") <= 1 and "\r" in shown  # redrawn, not a line per epoch
    assert "5/5" in shown.rsplit("\r", 1)[-1]


def test_a_log_gets_a_line_per_epoch(monkeypatch):
    shown = run(False, monkeypatch)
    assert shown.splitlines() == [f"epoch {e}/5: loss 0.5000, dev -, 0.10 s" for e in range(1, 6)]
