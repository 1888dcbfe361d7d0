"""The commands on bot folders: ``memchat init``, ``memchat start`` and ``memchat test``."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import click

from memchat.cli.group import DB_HELP, cli
from memchat.cli.models import train_with_progress
from memchat.cli.talk import repl
from memchat.errors import MemchatError

STARTER = Path(__file__).resolve().parents[1] / "starter"  # the project `memchat init` writes


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into FOLDER even if it is not empty.")
def init(folder: Path, force: bool) -> None:
    """Write a small bot project in Rasa's format into FOLDER: domain.yml, data/ (NLU, stories,
    rules), tests/test_stories.yml and config.toml. It trains as it is; edit it into your bot."""
    if folder.exists() and any(folder.iterdir()) and not force:
        raise MemchatError(f"{folder}: not empty; pick a new folder or pass --force")
    for source in sorted(STARTER.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            target = folder / source.relative_to(STARTER)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            click.echo(f"wrote {target}", err=True)
    click.echo(f"next: memchat start {folder}   (or memchat test {folder})")


def ensure_bundle(ctx: click.Context, folder: Path, retrain: bool = False, domain: str | None = None) -> Path:
    """The bundle of the bot in ``folder`` (models/<name>-<hash of where it is>), trained first
    when it is missing, when a file of the folder changed since, or when asked; says why."""
    from memchat.project.source import bundle_name, stale_reason

    if not folder.is_dir():
        raise MemchatError(f"{folder}: no such folder")
    bundle = Path("models") / (bundle_name(folder) + (f"-{Path(domain).stem}" if domain else ""))
    why = "asked to" if retrain else stale_reason(folder, bundle)
    if why:
        click.echo(f"training {folder} into {bundle} ({why})", err=True)
        fresh = bundle.with_name(bundle.name + f"-{datetime.now():%Y%m%d-%H%M%S}")
        _, result = train_with_progress(folder, out=bundle.parent, name=fresh.name, domain=domain)
        if result.best_dev:
            click.echo(f"best epoch {result.best_epoch}: dev per-response {result.best_dev.per_response:.4f}", err=True)
        old = bundle.with_name(bundle.name + ".old")
        if old.exists():  # left by a crash in the middle of a swap
            shutil.rmtree(old)
        if bundle.exists():  # the old bundle goes only once the new one is complete
            bundle.rename(old)
            fresh.rename(bundle)
            shutil.rmtree(old)
        else:
            fresh.rename(bundle)
    return bundle


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("dialogues"))
@click.option("--db", help=DB_HELP)
@click.option("--retrain", is_flag=True, help="Train again even if the bundle is up to date.")
@click.pass_context
def start(ctx: click.Context, folder: Path, db: str | None, retrain: bool) -> None:
    """Train the bot of FOLDER (default: ./dialogues) into models/ when it has no bundle or a file
    of FOLDER changed since, then chat with it in the REPL, its knowledge base loaded."""
    from memchat.babi.taskfiles import find_task_files
    from memchat.project.folder import is_project

    kb = None
    if not is_project(folder):
        files = find_task_files(folder)
        kb = files.kb[0] if files.kb else None
    bundle = ensure_bundle(ctx, folder, retrain)
    ctx.invoke(repl, model=bundle, db=db, kb=kb)


def _story_files(folder: Path) -> list[Path]:
    """The YAML files in a folder of test stories, as Rasa's ``--stories DIR`` reads them."""
    return sorted(p for ext in ("*.yml", "*.yaml") for p in folder.rglob(ext))


@cli.command(name="test")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--model", type=click.Path(path_type=Path), help="A bundle  [default: the project's, trained if stale]")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Where failed_test_stories.yml is written.",
)
@click.option("--fail-under", type=click.FloatRange(0, 1), help="Exit 1 when per-action accuracy is below this.")
@click.option(
    "--e2e",
    is_flag=True,
    help="Send each user step as the user typed it (Rasa's end-to-end test); default: its intent.",
)
@click.option("--domain", help="The domain file or folder in PROJECT, as Rasa's --domain  [default: domain.yml]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
def test_command(
    ctx: click.Context,
    project: Path,
    files: tuple[Path, ...],
    model: Path | None,
    out: Path,
    fail_under: float | None,
    e2e: bool,
    domain: str | None,
    as_json: bool,
) -> None:
    """Run the test stories of PROJECT (tests/*.yml, or FILES: files or folders) through its bot, as `rasa test`
    does: each user step as its intent and entities (or, with --e2e, as the user typed it), the
    story's actions predicted one by one; per-action and per-story accuracy, the confusions, the
    failed stories written in Rasa's format to OUT/failed_test_stories.yml and the figures to
    OUT/story_report.json."""
    import tempfile

    from memchat.bot import Bot
    from memchat.project.data import read_data
    from memchat.project.folder import Project
    from memchat.story_tests import run_tests, story_report, write_failed_stories, write_json

    proj = Project.read(project, domain=domain)
    paths = [p for f in files for p in (_story_files(f) if f.is_dir() else [f])]
    stories = read_data(paths, Path.cwd(), test=True).stories if files else proj.tests.stories
    if not stories:
        raise MemchatError(f"{project}: no test stories (tests/*.yml, or name the files)")
    bundle = model or ensure_bundle(ctx, project, domain=domain)
    with tempfile.TemporaryDirectory(prefix="memchat-test-") as tmp:
        bot = Bot.load(bundle, db=str(Path(tmp) / "test.db"))
        if bot.manager.spec is None:
            raise MemchatError(f"{bundle}: not the bundle of a bot project")
        report = run_tests(bot.manager, stories, e2e=e2e)
        bot.close()
    failed = write_failed_stories(report, out / "failed_test_stories.yml")
    write_json(story_report(report), out / "story_report.json")
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "failed_stories_file": str(out / "failed_test_stories.yml")}))
    else:
        click.echo(
            f"per-action accuracy {report.action_accuracy:.4f} ({report.actions_right} of {report.actions} "
            f"actions, action_listen included); per-story accuracy {report.story_accuracy:.4f} "
            f"({len(stories) - failed} of {len(stories)} stories)"
        )
        for (expected, predicted), n in report.confusions().most_common(10):
            click.echo(f"  {n:>4} x  expected {expected}, predicted {predicted}")
        if failed:
            click.echo(f"failed stories: {out / 'failed_test_stories.yml'}")
    if fail_under is not None and report.action_accuracy < fail_under:
        raise MemchatError(f"per-action accuracy {report.action_accuracy:.4f} is below --fail-under {fail_under}")
