"""The seams of the code: plugins only where the user says, training as one library call, a model
file that needs only torch, plugin migrations in named sets, a lock provider for the manager."""

import ast
import json
import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from memchat.errors import MemchatError

REPO = Path(__file__).resolve().parents[1]
WRITES_A_FILE = 'from pathlib import Path\nPath(__file__).resolve().parents[1].joinpath("PWNED").write_text("x")\n'


def run_memchat(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """memchat as a user runs it: a fresh process, installed entry points on, in ``cwd``."""
    environment = {k: v for k, v in os.environ.items() if k != "MEMCHAT_PLUGINS_DIR"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "memchat", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=environment
    )


@pytest.fixture
def downloaded(tmp_path) -> Path:
    """A folder as a downloaded repository might be: a plugins/ folder whose module writes a file."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "x.py").write_text(WRITES_A_FILE)
    return tmp_path


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["kb", "--help"], ["train", "--help"]])
def test_a_plugins_folder_in_the_working_directory_is_never_run(downloaded, args):
    run = run_memchat(downloaded, *args)
    assert run.returncode == 0, run.stderr
    assert not (downloaded / "PWNED").exists()


def test_bot_load_runs_no_plugins_folder_of_the_working_directory(downloaded, small):
    code = (
        f"from memchat import Bot; b = Bot.load({str(small / 'model')!r}, db='m.db'); "
        "print(b.respond('c', 'hi')); b.close()"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=downloaded, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "hello" in run.stdout and not (downloaded / "PWNED").exists()


def test_a_named_plugins_folder_is_run(downloaded):
    run = run_memchat(downloaded, "--plugins-dir", "plugins", "plugins")
    assert run.returncode == 0, run.stderr
    assert (downloaded / "PWNED").exists()
    (downloaded / "PWNED").unlink()
    run = run_memchat(downloaded, "plugins", env={"MEMCHAT_PLUGINS_DIR": str(downloaded / "plugins")})
    assert run.returncode == 0 and (downloaded / "PWNED").exists()


@pytest.mark.parametrize("where", ["repo", "plugins", "elsewhere", "named"])
def test_the_builtin_knowledge_base_plugin_is_loaded_once_from_anywhere(where, tmp_path):
    cwd = {"repo": REPO, "plugins": REPO / "plugins", "elsewhere": tmp_path, "named": REPO}[where]
    args = ["--plugins-dir", str(REPO / "plugins"), "plugins"] if where == "named" else ["plugins"]
    run = run_memchat(cwd, *args)
    assert run.returncode == 0, run.stderr
    listed = json.loads(run.stdout)
    kb = [p for p in listed if "execute_action" in p["hooks"]]
    assert [p["name"] for p in kb] == ["memchat_plugins.kb"], listed


def test_the_builtins_are_entry_points_of_the_distribution():
    from importlib.metadata import entry_points

    from memchat.plugins import DEFAULT_PLUGINS

    declared = {ep.name: ep.value for ep in entry_points(group="memchat") if ep.name in DEFAULT_PLUGINS}
    assert declared == {name: name for name in DEFAULT_PLUGINS}


def test_training_is_one_library_call(tiny, tmp_path):
    from memchat.nn.bundle import load_bundle
    from memchat.train import train_bot

    epochs = []
    bundle, result = train_bot(
        tiny, out=tmp_path, name="lib", dim=16, lr=0.05, batch_dialogs=1, epochs=30, patience=30, on_epoch=epochs.append
    )
    assert bundle.path == tmp_path / "lib" and (bundle.path / "metadata.json").is_file()
    assert len(epochs) == len(result.epochs) >= 1 and result.best_dev.per_response == 1.0
    assert bundle.metadata["training"]["best_epoch"] == result.best_epoch
    again = load_bundle(bundle.path)
    assert again.metadata == json.loads(json.dumps(bundle.metadata))  # what is returned is what was saved
    with pytest.raises(MemchatError, match="unknown training setting 'colour'"):
        train_bot(tiny, out=tmp_path, colour=3)


def imports_of(module: str) -> set[str]:
    """The top-level packages a module of memchat imports (memchat's own modules by full name)."""
    tree = ast.parse((REPO / "memchat" / f"{module}.py").read_text())  # module: "nn/model"
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module != "__future__"
    }
    return {n if n.startswith("memchat.") else n.split(".")[0] for n in names}


def test_the_model_file_imports_only_torch_and_its_config():
    assert imports_of("nn/model") <= {"torch", "memchat.nn.config"}, imports_of("nn/model")
    assert imports_of("nn/config") <= {"dataclasses"}  # read by the numpy ranker too


def test_the_live_path_imports_no_torch():
    """What answers a conversation (the ranker, the featurizer, the bundle loader, the manager,
    the server) never imports torch at the top; batches, model, train and evaluate do."""
    live = ["nn/ranker", "nn/featurize", "nn/bundle", "nn/entities", "nn/config", "bot", "replay"]
    live += [
        str(p.relative_to(REPO / "memchat").with_suffix(""))
        for d in ("dialogue", "channels", "store")
        for p in (REPO / "memchat" / d).rglob("*.py")
    ]
    for module in live:
        assert "torch" not in imports_of(module) or module == "nn/bundle", (module, imports_of(module))
    # bundle.py imports torch only inside Bundle.model and save_bundle, not at the top
    tree = ast.parse((REPO / "memchat" / "nn" / "bundle.py").read_text())
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not any(m.split(".")[0] == "torch" or m == "safetensors.torch" for m in top), top


def test_the_model_config_defaults_agree_with_the_featurizer():
    from memchat.dialogs import SPEAKERS
    from memchat.nn.entities import MATCH_KINDS
    from memchat.nn.model import MemN2NConfig

    config = MemN2NConfig(vocab_size=2, num_entity_types=1)
    assert (config.speakers, config.match_kinds) == (len(SPEAKERS), MATCH_KINDS)


def test_plugin_tables_have_their_own_numbered_migrations(small, tmp_path):
    from memchat.store.tracker_store import Store
    from memchat.store.urls import resolve_url
    from memchat_plugins import _kb_facts as kb

    store = Store(resolve_url(str(tmp_path / "k.db")))
    kb.load(store, small / "small-kb.txt")
    store.close()
    with sqlite3.connect(tmp_path / "k.db") as db:
        rows = db.execute("select set_name, version, name from memchat_set_migrations").fetchall()
        assert rows == [("kb", 1, "kb_facts")]
        db.execute("insert into memchat_set_migrations values ('kb', 99, 'from the future', 0)")
    store = Store(resolve_url(str(tmp_path / "k.db")))
    with pytest.raises(MemchatError, match="migration set 'kb' schema version 99 was written by a newer memchat"):
        store.migrate_set("kb", kb.MIGRATIONS)
    store.close()


def test_a_knowledge_base_table_made_before_migration_sets_is_adopted(small, tmp_path):
    from memchat.store.tracker_store import Store
    from memchat.store.urls import resolve_url
    from memchat_plugins import _kb_facts as kb

    store = Store(resolve_url(str(tmp_path / "old.db")))
    kb.metadata.create_all(store.engine)  # as memchat made it before the kb migration set
    with store.engine.begin() as conn:
        conn.execute(kb.kb_facts.insert().values(restaurant="resto_x", relation="R_cuisine", value="thai"))
    assert kb.query(store, "api_call thai R_location R_price") == ["resto_x R_cuisine thai"]
    store.close()


def test_the_manager_holds_conversations_through_the_lock_provider_it_is_given(small, tmp_path):
    from memchat.bot import Bot
    from memchat.dialogue.processor import DialogueManager

    held = []

    class Recording:
        def __init__(self):
            self.lock = threading.Lock()

        @contextmanager
        def hold(self, conversation_id):
            with self.lock:
                held.append(conversation_id)
                yield

        def close(self):
            held.append("closed")

    bot = Bot.load(small / "model", db=str(tmp_path / "m.db"))
    manager = DialogueManager(bot.manager.ranker, bot.store, bot.manager.pm, locks=Recording())
    assert [r.text for r in manager.respond("alice", "hi")] == ["hello what can i help you with today"]
    manager.close()
    bot.close()
    assert held == ["alice", "closed"]
