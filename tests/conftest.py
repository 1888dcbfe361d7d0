import os
from contextlib import contextmanager
from pathlib import Path

import pytest

# The dialog bAbI data is never committed: it sits in ../shared beside the checkout.
BABI = Path(os.environ.get("MEMCHAT_BABI", Path(__file__).resolve().parents[2] / "shared/data/dialog-bAbI-tasks"))

TINY_TRAIN = """\
1 hi	hello what can i help you with today
2 can you book a table with italian food in paris	i'm on it
3 <SILENCE>	api_call italian paris
4 resto_a R_cuisine italian
5 resto_a R_location paris
6 <SILENCE>	what do you think of this option: resto_a
7 thanks	you're welcome

1 hello	hello what can i help you with today
2 may i have a table with french food in rome	i'm on it
3 <SILENCE>	api_call french rome
4 api_call no result
5 <SILENCE>	sorry nothing found
6 bye	you're welcome
"""

TINY_KB = """\
1 resto_a R_cuisine	italian
1 resto_a R_location	paris
1 resto_b R_cuisine	french
1 resto_b R_location	rome
1 resto_c R_cuisine	korean
1 resto_c R_location	seoul
"""


@pytest.fixture
def babi() -> Path:
    if not (BABI / "dialog-babi-task1-API-calls-trn.txt").is_file():
        pytest.skip(f"dialog bAbI data not found at {BABI} (set MEMCHAT_BABI to its folder)")
    return BABI


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A folder with a two-dialogue task: train, dev (the same dialogues), kb; no candidates file."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "tiny-trn.txt").write_text(TINY_TRAIN)
    (folder / "tiny-dev.txt").write_text(TINY_TRAIN)
    (folder / "tiny-kb.txt").write_text(TINY_KB)
    return folder


def pytest_configure(config):
    import sys

    sys._called_from_test = True  # memchat.plugins: built-in plugins only, no installed ones


# A small restaurant task in the dialog bAbI task-5 form, with its knowledge base. Each restaurant:
# (name, cuisine, location, price, rating, party size, greeting of its dialogue or None for none)
RESTAURANTS = [
    ("resto_a", "italian", "paris", "cheap", "7", "six", "hi"),
    ("resto_b", "french", "rome", "expensive", "3", "two", "hello"),
    ("resto_c", "korean", "seoul", "cheap", "5", "four", None),
]


def _facts(name, cuisine, location, price, rating, size):
    """A restaurant's relations, in the order of the knowledge-base file."""
    return [
        ("R_cuisine", cuisine),
        ("R_location", location),
        ("R_price", price),
        ("R_rating", rating),
        ("R_phone", f"{name}_phone"),
        ("R_address", f"{name}_address"),
        ("R_number", size),
    ]


def _booking(name, cuisine, location, price, rating, size, greeting):
    """A dialogue booking this restaurant; results in the dataset's relation order."""
    facts = dict(_facts(name, cuisine, location, price, rating, size))
    order = ["R_phone", "R_cuisine", "R_address", "R_location", "R_number", "R_price", "R_rating"]
    lines = [
        f"{greeting}\thello what can i help you with today",
        f"may i have a table in {location} with {cuisine} food for {size} in a {price} price range\ti'm on it",
        f"<SILENCE>\tapi_call {cuisine} {location} {size} {price}",
        *(f"{name} {rel} {facts[rel]}" for rel in order),
        f"<SILENCE>\twhat do you think of this option: {name}",
        "let's do it\tgreat let me do the reservation",
        "thanks\tyou're welcome",
    ]
    return "".join(f"{i} {line}\n" for i, line in enumerate(lines, start=1))


SMALL_TRAIN = "\n".join(_booking(*r) for r in RESTAURANTS if r[-1])
SMALL_KB = "".join(f"1 {r[0]} {rel}\t{value}\n" for r in RESTAURANTS for rel, value in _facts(*r[:-1]))


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Path:
    """A folder with the small restaurant task (train = dev) and a bundle trained on it (./model)."""
    from memchat.train import train_bot

    folder = tmp_path_factory.mktemp("small")
    (folder / "small-trn.txt").write_text(SMALL_TRAIN)
    (folder / "small-dev.txt").write_text(SMALL_TRAIN)
    (folder / "small-kb.txt").write_text(SMALL_KB)
    _, result = train_bot(
        folder,
        out=folder,
        name="model",
        context=False,
        dim=24,
        hops=2,
        memory=50,
        dropout=0.0,
        epochs=80,
        patience=80,
        lr=0.03,
        batch_dialogs=1,
    )
    assert result.best_dev.per_response == 1.0, "the small model must learn its two dialogues"
    return folder


BOOKING = "may i have a table in paris with italian food for six in a cheap price range"  # a SMALL_TRAIN turn


@pytest.fixture
def bot(small, tmp_path):
    """A Bot on the small model, with its own store and the small knowledge base loaded."""
    from memchat.bot import Bot

    b = Bot.load(small / "model", db=str(tmp_path / "m.db"), kb=small / "small-kb.txt")
    yield b
    b.close()


def memchat_command(*args: str) -> list[str]:
    """The memchat command as a user runs it, in a fresh process."""
    import sys

    return [sys.executable, "-m", "memchat", *args]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(server, url: str, timeout: float = 60) -> None:
    """Wait for a server subprocess to answer 200 at ``url``; fail with its stderr if it exits."""
    import time

    import httpx2

    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, server.stderr.read()
        try:
            if httpx2.get(url).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url}: nothing answered in {timeout} s"
        time.sleep(0.2)


# PostgreSQL: a server's URL in MEMCHAT_TEST_PG (.ci/run starts one with .ci/postgres); each test
# gets a database of its own, dropped after it
PG = os.environ.get("MEMCHAT_TEST_PG")
NO_PG = "no PostgreSQL server: MEMCHAT_TEST_PG is not set (.ci/run starts one with .ci/postgres)"


@pytest.fixture
def pg_url():
    if not PG:
        pytest.skip(NO_PG)
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"memchat_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # a server that does not answer: say so, never a silent pass
        admin.dispose()
        pytest.skip(f"PostgreSQL at {make_url(PG).render_as_string(hide_password=True)} did not answer: {e}")
    yield make_url(PG).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A store URL on each database memchat is tested on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("pg_url")


@contextmanager
def serving(small: Path, db: Path, *options: str, command=memchat_command, cwd: Path | None = None):
    """`memchat serve` on the small bundle and its knowledge base, as a user starts it, in a process
    of its own; yields its URL once it answers, and stops it after. ``command`` makes the command
    line from memchat's arguments (another interpreter: tests/test_lean.py)."""
    import subprocess

    port = free_port()
    server = subprocess.Popen(
        command("serve", "--model", str(small / "model"), "--db", str(db), "--port", str(port))
        + ["--kb", str(small / "small-kb.txt"), "--log-level", "warning", *options],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url + "/")
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="session")
def pizzeria_bundle(tmp_path_factory):
    """The pizzeria project (tests/projects/pizzeria) trained: a bundle with every feature on."""
    from memchat.train import train_bot

    out = tmp_path_factory.mktemp("pizzeria")
    bundle, _ = train_bot(Path(__file__).parent / "projects" / "pizzeria", out=out, name="b", seed=0)
    return bundle.path


@pytest.fixture
def pizza_bot(pizzeria_bundle, tmp_path):
    from memchat.bot import Bot

    bot = Bot.load(pizzeria_bundle, db=str(tmp_path / "p.db"))
    yield bot
    bot.close()
