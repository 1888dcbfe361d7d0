"""The commands that make and measure models: ``memchat train``, ``evaluate`` and ``replay``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from memchat.cli.group import cli
from memchat.errors import need_torch


def train_with_progress(path: Path, task: int | None = None, **kwargs):
    """``train_bot`` with what it reads and a progress bar per epoch on stderr."""
    need_torch("training")
    from memchat.cli.progress import EpochProgress
    from memchat.train import train_bot

    progress: list[EpochProgress] = []

    def on_start(data) -> None:
        click.echo(data.summary(), err=True)
        for note in data.sources.get("notes", []):
            click.echo(f"note: {note}", err=True)
        progress.append(EpochProgress(data.train_enc.num_dialogs, data.train_cfg.epochs))

    try:
        return train_bot(
            path,
            task,
            on_start=on_start,
            on_batch=lambda done, loss: progress[0].batch(done, loss),
            on_epoch=lambda report: progress[0].epoch(report),
            **kwargs,
        )
    finally:
        if progress:
            progress[0].close()


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", type=click.IntRange(1), help="Use the files of task N in PATH, and its defaults.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("models"),
    show_default=True,
    help="Folder the bundle is written into.",
)
@click.option("--name", help="Bundle name  [default: task<N>-<date>-<time>]")
@click.option("--epochs", type=click.IntRange(1), help="Most epochs to train (early stopping may end sooner).")
@click.option("--hops", type=click.IntRange(1, 10), help="Memory hops.")
@click.option("--dim", type=click.IntRange(2, 4096), help="Embedding size.")
@click.option("--memory", type=click.IntRange(1), help="Memory window: the most recent utterances attended over.")
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), help="Dropout on utterance embeddings while training."
)
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), help="Adam learning rate.")
@click.option("--batch", "batch_dialogs", type=click.IntRange(1), help="Dialogues per batch.")
@click.option("--patience", type=click.IntRange(1), help="Stop after this many epochs without a better dev score.")
@click.option(
    "--subwords",
    type=click.IntRange(0),
    help="Hashed character n-gram buckets beside the words (0: none)  [default: 4096 for projects, else 0]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same seed repeats a run.")
@click.option(
    "--domain", help="A bot project's domain file or folder in PATH, as Rasa's --domain  [default: domain.yml]"
)
@click.option("--no-match", is_flag=True, help="Leave out the match-type features (paper §4.4).")
@click.option(
    "--paper",
    is_flag=True,
    help="Only the paper's features: no entity-type words, said types, restaurant names as entities, "
    "latest, focus or next matches.",
)
def train(
    path: Path, task: int | None, out: Path, name: str | None, seed: int, no_match: bool, paper: bool, **given
) -> None:
    """Train a model on the dialogues in PATH (a folder or a -trn.txt file) and write a bundle.

    In a folder, *-trn.txt files train, *-dev.txt files pick the best epoch, *candidates*.txt
    holds the replies to choose from, *kb*.txt the knowledge base, and config.toml's [train]
    table the settings (flags win). The last line printed is the bundle's path.
    """
    bundle, result = train_with_progress(
        path,
        task,
        out=out,
        name=name,
        seed=seed,
        match=False if no_match else None,
        context=False if paper else None,
        **given,
    )
    if result.best_dev:
        click.echo(
            f"best epoch {result.best_epoch}: dev per-response {result.best_dev.per_response:.4f}, "
            f"per-dialog {result.best_dev.per_dialog:.4f}; {result.seconds:.1f} s",
            err=True,
        )
    click.echo(str(bundle.path))


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--errors", "show_errors", type=click.IntRange(0), default=0, help="Show N mispredicted replies with their context."
)
def evaluate(model: Path, files: tuple[Path, ...], as_json: bool, show_errors: int) -> None:
    """Score MODEL (a bundle) on dialogue FILES: per-response and per-dialogue accuracy."""
    need_torch("memchat evaluate (batch scoring; memchat replay scores live, without it)")
    import torch

    from memchat.babi.files import read_dialogs
    from memchat.nn.batches import encode_dialogs
    from memchat.nn.bundle import load_bundle
    from memchat.nn.evaluate import predict, score
    from memchat.nn.scores import Scores

    bundle = load_bundle(model)
    feat = bundle.featurizer
    per_file, mistakes, total = [], [], Scores(0, 0, 0, 0)
    for path in files:
        dialogs = read_dialogs(path)
        enc = encode_dialogs(feat, dialogs)
        pred = predict(bundle.model, feat, enc)
        s = score(pred, enc)
        per_file.append({"file": str(path), **s.to_dict()})
        total = total + s
        wrong = torch.nonzero(pred != enc.ex_gold).squeeze(1).tolist()
        for x in wrong[: max(show_errors - len(mistakes), 0)]:
            d = dialogs[int(enc.ex_dialog[x])]
            q = int(enc.ex_qpos[x])
            mistakes.append((path, d, q, int(pred[x])))
    totals = {**total.to_dict(), "files": per_file}
    if as_json:
        click.echo(json.dumps(totals))
    else:
        for f in per_file if len(per_file) > 1 else []:
            click.echo(f"{f['file']}: per-response {f['per_response']:.4f}, per-dialog {f['per_dialog']:.4f}")
        click.echo(
            f"per-response accuracy {total.per_response:.4f} ({total.responses} replies), "
            f"per-dialog accuracy {total.per_dialog:.4f} ({total.dialogs} dialogues)"
        )
    out = sys.stderr if as_json else sys.stdout
    for path, d, q, p in mistakes:
        gold = d.turns[q + 1]
        click.echo(f"\n{path}:{gold.line}", file=out)
        for t in d.turns[max(0, q - 5) : q + 1]:
            click.echo(f"  {t.speaker:>4}: {t.text}", file=out)
        click.echo(f"  gold      {gold.text}", file=out)
        click.echo(f"  predicted {feat.candidates[p]}", file=out)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--kb",
    type=click.Path(path_type=Path),
    help="Knowledge-base file for the api calls  [default: the *kb*.txt beside each FILE]",
)
@click.option("--db", help="Store the conversations here  [default: a temporary SQLite file]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--errors",
    "show_errors",
    type=click.IntRange(0),
    default=0,
    help="Show N replies that differ from the recorded ones.",
)
@click.option(
    "--cut-in/--no-cut-in",
    default=True,
    show_default=True,
    help="Where the recorded user changed the request right after an api call (no results "
    "recorded), do not run that call either.",
)
def replay(
    model: Path, files: tuple[Path, ...], kb: Path | None, db: str | None, as_json: bool, show_errors: int, cut_in: bool
) -> None:
    """Play the user side of the dialogues in FILES live through MODEL: the share of bot turns and
    of dialogues identical to the recorded ones, with the knowledge-base plugin answering api calls."""
    import tempfile

    from memchat.babi.files import read_dialogs
    from memchat.babi.taskfiles import find_task_files
    from memchat.bot import Bot
    from memchat.nn.scores import Scores
    from memchat.replay import replay as run_replay

    total, mistakes = Scores(0, 0, 0, 0), []
    with tempfile.TemporaryDirectory(prefix="memchat-replay-") as tmp:
        bot = Bot.load(model, db=db or str(Path(tmp) / "replay.db"))
        loaded = None
        for path in files:
            dialogs = read_dialogs(path)
            kbs = [kb] if kb else find_task_files(path).kb
            if kbs != loaded:  # files of one task share their knowledge base: load it once
                for k in kbs:
                    bot.manager.pm.hook.load_knowledge_base(store=bot.store, path=k)
                loaded = kbs
            result = run_replay(bot.manager, dialogs, prefix=path.stem, cut_in=cut_in)
            total = total + result.scores
            mistakes += result.mistakes
        bot.close()
    if as_json:
        click.echo(json.dumps(total.to_dict()))
    else:
        click.echo(
            f"live per-response {total.per_response:.4f} ({total.responses} replies), "
            f"per-dialog {total.per_dialog:.4f} ({total.dialogs} dialogues)"
        )
    out = sys.stderr if as_json else sys.stdout
    for m in mistakes[:show_errors]:
        click.echo(f"\n{m.conversation_id}\n  user: {m.user}\n  gold: {m.gold}\n  said: {m.said}", file=out)
