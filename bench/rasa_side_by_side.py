"""Rasa's own projects in memchat and in Rasa 3.6, side by side: train time, and each project's own
test stories, per story and per action, core (intents given) and end to end (from the text).

Opt-in, like the Rasa tests: Rasa Open Source 3.6 runs on Python 3.10, in a venv of its own
(``~/.pyenv/versions/3.10.13/bin/python -m venv rasa-venv && rasa-venv/bin/pip install rasa==3.6.21
setuptools==70.3.0``). The projects are read where ``../shared/rasa-projects`` keeps them and copied
to a temporary folder for each tool (Rasa writes ``models/`` and ``results/`` beside them); nothing
in them is edited.

    python bench/rasa_side_by_side.py --rasa rasa-venv/bin/rasa [--projects moodbot formbot ...]
        [--runs 1] [--own-tests DIR]

``--own-tests DIR``: test stories of our own, ``DIR/<project>/*.yml``, scored by both besides the
project's (wording the projects' examples lack). Sara is left out unless named: Rasa trains it for
about 36 minutes here. Each project's time is the median of ``--runs`` runs, memchat and Rasa
alternating.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECTS = Path(__file__).resolve().parents[2] / "shared/rasa-projects"
# project -> (domain file, its test stories inside it); None: Rasa's defaults (domain.yml, tests/)
LAYOUT = {
    "moodbot": (None, "tests"),
    "formbot": (None, "tests"),
    "e2ebot": (None, "tests"),
    "concertbot": (None, "data/stories.yml"),
    "sara": ("domain_migrated.yml", "tests"),
}


def run(cmd: list[str], cwd: Path) -> float:
    """Seconds ``cmd`` took in ``cwd``; its output kept in ``cwd/<tool>.log``; a failure says which."""
    start = time.perf_counter()
    with open(cwd / f"{Path(cmd[0]).name}.log", "a") as log:
        done = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        lines = (cwd / f"{Path(cmd[0]).name}.log").read_text(errors="replace").splitlines()
        why = next(
            (ln for ln in reversed(lines) if ("Error" in ln or "Exception" in ln) and "WARNING" not in ln),
            f"exit {done.returncode}",
        )
        raise Failed(f"{Path(cmd[0]).name} {cmd[1]}: {why.strip()[:200]}")
    return time.perf_counter() - start


class Failed(Exception):
    """A tool refused a project (Rasa's e2ebot needs transformers and a model download)."""


def figures(report: Path) -> tuple[int, int, int, int]:
    """(stories right, stories, actions right, actions) of a ``story_report.json``, Rasa's shape."""
    data = json.loads(report.read_text())
    stories = data["conversation_accuracy"]
    actions = sum(v["support"] for k, v in data.items() if isinstance(v, dict) and "support" in v and "avg" not in k)
    right = sum(
        round(v["recall"] * v["support"])
        for k, v in data.items()
        if isinstance(v, dict) and "support" in v and "avg" not in k and k != "accuracy"
    )
    return stories["correct"], stories["total"], right, actions


def memchat_side(folder: Path, domain: str | None, tests: list[str]) -> dict:
    exe = [sys.executable, "-m", "memchat"]
    dom = ["--domain", domain] if domain else []
    seconds = run([*exe, "train", str(folder), "--out", str(folder / "models"), "--name", "bot", *dom], folder)
    out = {"train": seconds}
    for e2e in (False, True):
        for t in tests:
            run(
                [*exe, "test", str(folder), *dom, "--model", str(folder / "models/bot"), str(folder / t)]
                + (["--e2e"] if e2e else []),
                folder,
            )
            out[(t, e2e)] = figures(folder / "results/story_report.json")
    return out


def rasa_side(rasa: str, folder: Path, domain: str | None, tests: list[str]) -> dict:
    dom = ["--domain", domain] if domain else []
    seconds = run([rasa, "train", *dom, "--fixed-model-name", "bot", "--out", "models"], folder)
    out = {"train": seconds}
    for e2e in (False, True):
        for t in tests:
            run(
                [rasa, "test", "core", *dom, "--model", "models/bot.tar.gz", "--stories", t, "--out", "results"]
                + (["--e2e"] if e2e else []),
                folder,
            )
            out[(t, e2e)] = figures(folder / "results/story_report.json")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rasa", required=True, help="the rasa command of a Python 3.10 venv with rasa==3.6.*")
    ap.add_argument("--projects", nargs="+", default=["moodbot", "formbot", "e2ebot", "concertbot"])
    ap.add_argument("--data", type=Path, default=PROJECTS)
    ap.add_argument("--own-tests", type=Path, help="DIR/<project>/*.yml: test stories of our own")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    rows = []
    for name in args.projects:
        domain, tests = LAYOUT.get(name, (None, "tests"))
        sides: dict[str, list[dict]] = {"memchat": [], "rasa": []}
        for _ in range(args.runs):
            for side in ("memchat", "rasa"):  # alternating: the machine's noise falls on both
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp) / name
                    shutil.copytree(args.data / name, folder, ignore=shutil.ignore_patterns("models", "results"))
                    files = [tests]
                    own = args.own_tests / name if args.own_tests else None
                    if own and own.is_dir():
                        shutil.copytree(own, folder / "own_tests")
                        files.append("own_tests")
                    try:
                        got = (
                            memchat_side(folder, domain, files)
                            if side == "memchat"
                            else rasa_side(args.rasa, folder, domain, files)
                        )
                    except Failed as e:
                        got = {"train": float("nan"), "failed": str(e)}
                    sides[side].append(got)
        for side, runs in sides.items():
            row = {"project": name, "side": side, "train_s": round(statistics.median(r["train"] for r in runs), 1)}
            for key, value in runs[0].items():
                if key == "failed":
                    row["failed"] = value
                elif key != "train":
                    t, e2e = key
                    s, st, a, at = value
                    row[f"{'own' if t == 'own_tests' else 'its'} {'e2e' if e2e else 'core'}"] = f"{s}/{st} ({a}/{at})"
            rows.append(row)
            print(json.dumps(row), flush=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    main()
