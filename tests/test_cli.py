import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from memchat.cli.group import cli


@pytest.fixture
def runner():
    return CliRunner()


def train_tiny(runner, tiny, tmp_path, *extra):
    return runner.invoke(
        cli,
        [
            "train",
            str(tiny),
            "--out",
            str(tmp_path / "models"),
            "--epochs",
            "30",
            "--dim",
            "16",
            "--lr",
            "0.05",
            "--batch",
            "1",
            "--patience",
            "30",
            *extra,
        ],
    )


def test_train_then_evaluate(runner, tiny, tmp_path):
    result = train_tiny(runner, tiny, tmp_path, "--name", "mine")
    assert result.exit_code == 0, result.output
    bundle = result.stdout.strip().splitlines()[-1]
    assert bundle == str(tmp_path / "models" / "mine")
    assert "epoch 1/30" in result.stderr
    result = runner.invoke(cli, ["evaluate", bundle, str(tiny / "tiny-dev.txt"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"per_response", "per_dialog", "responses", "dialogs", "files"}
    assert out["responses"] == 10 and out["dialogs"] == 2 and out["per_response"] == 1.0
    result = runner.invoke(cli, ["evaluate", bundle, str(tiny / "tiny-dev.txt")])
    assert "per-response accuracy 1.0000 (10 replies)" in result.stdout


def test_train_without_match_features(runner, tiny, tmp_path):
    result = train_tiny(runner, tiny, tmp_path, "--no-match", "--name", "plain")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "models/plain/metadata.json").read_text())
    assert meta["config"]["match"] is False


def test_evaluate_errors_shows_context_gold_and_prediction(runner, tiny, tmp_path):
    result = train_tiny(runner, tiny, tmp_path, "--epochs", "1", "--lr", "0.0001", "--name", "weak")
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli, ["evaluate", str(tmp_path / "models/weak"), str(tiny / "tiny-dev.txt"), "--errors", "2"]
    )
    assert result.exit_code == 0
    assert result.stdout.count("gold      ") == 2 and result.stdout.count("predicted ") == 2
    assert "tiny-dev.txt:" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "/nonexistent/folder"], "/nonexistent/folder: no such file or folder"),
        (["evaluate", "/nonexistent/bundle", "x.txt"], "/nonexistent/bundle: no such bundle"),
        (["train", "TINY", "--dim", "0"], "Invalid value for '--dim'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code(runner, tiny, args, message):
    args = [str(tiny) if a == "TINY" else a for a in args]
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_malformed_training_file_names_its_line(runner, tiny, tmp_path):
    (tiny / "tiny-trn.txt").write_text("1 hi\thello\n3 oops\tno\n")
    result = runner.invoke(cli, ["train", str(tiny), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {tiny / 'tiny-trn.txt'}:2: expected turn id 2 (or 1 to start a new dialogue), got 3"
    )
    assert not (tmp_path / "m").exists()


def test_several_tasks_need_a_task_number(runner, tiny):
    (tiny / "dialog-task1-trn.txt").write_text("1 hi\thello\n")
    (tiny / "dialog-task2-trn.txt").write_text("1 hi\thello\n")
    result = runner.invoke(cli, ["train", str(tiny)])
    assert result.exit_code == 1 and "tasks 1, 2; pass --task N" in result.stderr


def test_python_dash_m(tmp_path):
    out = subprocess.run([sys.executable, "-m", "memchat", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "memchat" in out.stdout


def test_context_features_are_on_by_default_and_paper_turns_them_off(runner, tiny, tmp_path):
    for name, extra, context in (
        ("default", (), True),
        ("paper", ("--paper",), False),
        ("plain", ("--no-match",), False),
    ):
        result = train_tiny(runner, tiny, tmp_path, "--epochs", "1", "--name", name, *extra)
        assert result.exit_code == 0, result.output
        meta = json.loads((tmp_path / f"models/{name}/metadata.json").read_text())
        assert meta["config"]["context"] is context
        assert ("<R_cuisine>" in meta["vocabulary"]) is context  # the type words come with the features


def test_the_command_line_starts_without_the_heavy_modules(tmp_path):
    """numpy, SQLAlchemy and torch are imported by the commands that need them, not by the
    command line itself nor by its plugins, which every command loads (the knowledge-base
    plugin imports its SQL table when one is loaded or queried)."""
    probe = (
        "import sys, memchat.cli; from memchat.plugins import new_plugin_manager; new_plugin_manager()\n"
        "print(sorted(m for m in ('numpy', 'sqlalchemy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_answering_from_a_bundle_never_loads_the_project_reader(pizzeria_bundle, tmp_path):
    """A bot project's bundle answers with its rules and slots (memchat.project.spec, rules),
    without the folder reader and its file formats (the domain, YAML, TOML, the stories), nor torch."""
    probe = (
        "import sys; from memchat.bot import Bot; import memchat.channels.rest\n"
        f"bot = Bot.load({str(pizzeria_bundle)!r}, db={str(tmp_path / 'p.db')!r}); assert bot.respond('a', 'hi')\n"
        "print(sorted(m for m in ('memchat.project.folder', 'memchat.project.data', 'memchat.project.domain',"
        " 'memchat.project.yamlfile', 'yaml', 'tomllib', 'tarfile', 'torch') if m in sys.modules),"
        " 'memchat.project.rules' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]


DATABASE_FAILS = """
import click
from sqlalchemy.exc import OperationalError
from memchat.hookspecs import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    def broken():
        raise OperationalError("INSERT INTO events", {}, Exception("disk I/O error"))
"""


def test_a_database_failing_under_a_command_is_one_line(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text(DATABASE_FAILS)
    out = subprocess.run(
        [sys.executable, "-m", "memchat", "--plugins-dir", str(tmp_path / "plugins"), "broken"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == ["Error: database: disk I/O error"], out.stderr


def test_a_program_running_the_command_line_keeps_its_garbage_collector(runner):
    """The memchat command tunes its own process's collector at start (memchat.process); a
    program that runs the command line inside itself keeps its collector as it is."""
    import gc

    frozen = gc.get_freeze_count()
    assert runner.invoke(cli, ["serve", "--help"]).exit_code == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts no thread to leave out")
def test_numpy_and_sqlalchemy_are_imported_from_an_empty_stack_however_deep_the_caller():
    """CPython 3.11 maps and frees a frame-stack chunk each time a call crosses a chunk's edge; how
    often an import does depends on where on the stack it starts (SQLAlchemy's, under the command
    line's frames: 740 times in serve's start). ``quick_start`` imports both from a thread's
    empty stack, so the depth is the same whatever called it."""
    probe = (
        "import sys, traceback; from memchat import process\n"
        "depths = {}\n"
        "def hook(event, args):\n"
        "    if event == 'import' and args[0] in ('numpy', 'sqlalchemy') and args[0] not in depths:\n"
        "        depths[args[0]] = len(traceback.extract_stack())\n"
        "sys.addaudithook(hook)\n"
        "def deep(n):\n"
        "    if n:\n"
        "        return deep(n - 1)\n"
        "    process.begin()\n"
        "    with process.quick_start(): pass\n"
        "deep(60)\n"
        "print(depths['numpy'], depths['sqlalchemy'])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert all(int(d) < 12 for d in out.stdout.split()), out.stdout


def test_a_library_that_fails_to_import_in_the_importer_thread_fails_again_where_it_is_needed():
    """quick_start's thread prints nothing when numpy's import fails (here: raises RuntimeError, as
    a broken install may); the import that needs it raises, in the thread that asked (where the
    command line turns it into one line)."""
    probe = (
        "import sys\n"
        "class Broken:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy':\n"
        "            raise RuntimeError('numpy: broken')\n"
        "sys.meta_path.insert(0, Broken())\n"
        "from memchat import process\n"
        "process.begin()\n"
        "with process.quick_start(): pass\n"
        "try:\n"
        "    import numpy\n"
        "except RuntimeError:\n"
        "    print('raised here')"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert (out.stdout.strip(), out.stderr) == ("raised here", "")


def test_a_process_loading_a_bot_to_answer_runs_numpy_s_blas_on_one_thread_unless_told_otherwise():
    """OpenBLAS starts a spinning thread per core as numpy is imported (0.11 s of CPU a start here,
    for products with a 64-number state): the memchat command, as it loads a bot to answer
    (serve, its workers, the repl: ``process.quick_start``), sets OPENBLAS_NUM_THREADS=1 before it
    imports numpy, unless the user set it; training and a program running memchat keep numpy's own."""
    probe = (
        "import os, sys; from memchat import process\n"
        "if sys.argv[1] != 'library': process.begin()\n"
        "if sys.argv[1] == 'answer':\n"
        "    with process.quick_start(): pass\n"
        "import numpy, time; time.sleep(0.2)\n"  # quick_start's importer thread, joined, is gone from the OS too
        "print(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

    def threads(who, **extra):
        out = subprocess.run([sys.executable, "-c", probe, who], env={**env, **extra}, capture_output=True, text=True)
        return out.stdout.split()

    assert threads("answer") == ["1", "1"]  # numpy's BLAS: no thread beside the main one
    assert threads("answer", OPENBLAS_NUM_THREADS="2") == ["2", "2"]  # the user's setting stands
    assert threads("train")[0] == "None" and int(threads("train")[1]) > 1  # a command that does not answer
    assert int(threads("library")[1]) > 1  # a program that is not memchat's command keeps numpy's own
