import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from memchat.errors import MemchatError
from memchat.store.event import Event
from memchat.store.schema import SCHEMA_VERSION
from memchat.store.statements import _EVENT_KEYS
from memchat.store.tracker_store import Store
from memchat.store.urls import resolve_url


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'm.db'}")
    yield s
    s.close()


def test_migrations_are_recorded_and_run_once(tmp_path, store):
    assert store.schema_version() == SCHEMA_VERSION
    Store(store.url).close()  # opening again applies nothing twice
    with sqlite3.connect(tmp_path / "m.db") as db:
        rows = db.execute("select version, name from memchat_migrations").fetchall()
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_newer_database_is_refused(tmp_path, store):
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute("insert into memchat_migrations values (?, 'from the future', 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(MemchatError, match=f"schema version {SCHEMA_VERSION + 1} was written by a newer memchat"):
        Store(store.url)


def test_foreign_database_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("create table events (x int)")
    with pytest.raises(MemchatError, match="not a memchat store"):
        Store(f"sqlite:///{tmp_path / 'other.db'}")


def test_bad_urls_are_one_clear_error(tmp_path):
    with pytest.raises(MemchatError, match="not a SQLAlchemy URL"):
        Store("::nonsense::")
    with pytest.raises(MemchatError, match="its folder does not exist"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'm.db'}")
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(MemchatError, match="garbage.db"):
        Store(f"sqlite:///{tmp_path / 'garbage.db'}")


@pytest.fixture
def any_store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def test_append_numbers_events_per_conversation_and_recent_reads_the_tail(any_store):
    store = any_store
    store.append("a", [Event("user", "one"), Event("bot", "two")])
    store.append("b", [Event("user", "other")])
    stored = store.append("a", [Event("kb", "three", {"k": 1})])
    assert stored[0].seq == 3 and stored[0].conversation_id == "a"
    assert [(e.seq, e.text) for e in store.recent("a", 2)] == [(2, "two"), (3, "three")]
    assert [e.text for e in store.events("a")] == ["one", "two", "three"]
    assert store.events("a", after=2)[0].data == {"k": 1}
    assert store.recent("nobody", 5) == [] and not store.exists("nobody") and store.exists("b")
    assert [c[0] for c in store.conversations()] == ["a", "b"]


def test_the_hot_path_on_the_driver_keeps_types_and_sqlalchemy_s_errors(any_store):
    """Appending and reading run on the driver's cursor (DriverStatement): JSON data and None come
    back as stored, a taken seq is SQLAlchemy's IntegrityError (the append retries with the seq
    read back), and a database that fails is SQLAlchemy's error, as memchat handles everywhere."""
    store = any_store
    store.append("a", [Event("user", "one", {"n": [1, "x"], "ok": True}), Event("bot", "two")])
    store.kept = type(store.kept)()  # nothing kept: every read goes to the database
    assert [(e.text, e.data, e.speaker) for e in store.events("a")] == [
        ("one", {"n": [1, "x"], "ok": True}, "user"),
        ("two", None, "bot"),
    ]
    assert [e.seq for e in store.append("a", [Event("user", "three")], after=0)] == [3]  # seq 1 taken: retried
    with pytest.raises(IntegrityError):  # the driver's error, raised as SQLAlchemy's
        with store._driver() as cursor:
            store._hot.insert_events.run_many(cursor, [dict(zip(_EVENT_KEYS, ("a", 1, "user", "again", 0.0, None)))])
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE events"))
    for broken in (lambda: store.append("b", [Event("user", "x")]), lambda: store.events("a", after=3)):
        with pytest.raises(SQLAlchemyError) as caught:
            broken()
        assert "events" in str(caught.value.orig)


def test_reading_the_tail_is_one_indexed_range_scan(store):
    with store.engine.connect() as conn:
        plan = " ".join(
            str(r[-1])
            for r in conn.execute(
                text(
                    "explain query plan select seq, speaker, text from events where conversation_id = 'a' "
                    "order by seq desc limit 10"
                )
            )
        )
    assert "USING INDEX" in plan and "SCAN events" not in plan.replace("USING INDEX", "")


def test_url_from_flag_environment_or_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEMCHAT_DB", raising=False)
    assert resolve_url(None) == "sqlite:///memchat.db"
    monkeypatch.setenv("MEMCHAT_DB", "postgresql+psycopg://u@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u@h/db"
    assert resolve_url("x.db") == f"sqlite:///{tmp_path / 'x.db'}"


def _writer(url, worker, conversations, turns):
    s = Store(url)
    for i in range(turns):
        cid = conversations[i % len(conversations)]
        s.append(cid, [Event("user", f"{worker}:{i}"), Event("bot", f"re {worker}:{i}")])


def test_concurrent_processes_store_every_event_once_in_order(any_store):
    store = any_store
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(store.url, w, ["shared", f"own{w}"], 40)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    shared = store.events("shared")
    assert [e.seq for e in shared] == list(range(1, len(shared) + 1))
    assert len(shared) == 6 * 20 * 2
    for w in range(6):  # each worker's pairs stay adjacent and in its own order
        mine = [e.text for e in shared if e.text.split(":")[0].removeprefix("re ") == str(w)]
        expected = [t for i in range(0, 40, 2) for t in (f"{w}:{i}", f"re {w}:{i}")]
        assert mine == expected
        assert len(store.events(f"own{w}")) == 40


def test_a_foreign_damaged_or_half_made_database_is_one_line(tmp_path, monkeypatch):
    foreign = tmp_path / "shop.db"
    with sqlite3.connect(foreign) as db:
        db.execute("create table customers (id integer)")
    with pytest.raises(MemchatError, match=r"holds other tables \(customers\).*MEMCHAT_ADOPT_DB=1"):
        Store(resolve_url(str(foreign)))
    monkeypatch.setenv("MEMCHAT_ADOPT_DB", "1")  # the user asks: memchat's tables go in beside
    Store(resolve_url(str(foreign))).close()
    monkeypatch.delenv("MEMCHAT_ADOPT_DB")

    half = tmp_path / "half.db"
    Store(resolve_url(str(half))).close()
    with sqlite3.connect(half) as db:
        db.execute("drop table events")
    with pytest.raises(MemchatError, match="damaged: its migrations are recorded but table 'events' is missing"):
        Store(resolve_url(str(half)))

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is no database " * 100)
    with pytest.raises(MemchatError, match="garbage.db") as e:
        Store(resolve_url(str(garbage)))
    assert "\n" not in str(e.value)


def test_what_a_store_keeps_of_a_conversation_is_never_stale_and_bounded(tmp_path, monkeypatch):
    """Two stores on one database, as two workers: each keeps the latest events of the
    conversations it served, yet reads every event the other stored since."""
    from memchat.store.recent import RecentEvents

    monkeypatch.setattr(RecentEvents, "CONVERSATIONS", 3)
    monkeypatch.setattr(RecentEvents, "EVENTS", 5)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a, b = Store(url), Store(url)
    a.append("c", [Event("user", "one"), Event("bot", "two")])
    assert [e.text for e in b.events("c")] == ["one", "two"]  # b keeps them now
    a.append("c", [Event("user", "three")], after=2)
    assert [e.text for e in b.recent("c", 2)] == ["two", "three"]
    assert [e.seq for e in b.events("c", after=1)] == [2, 3]
    b.append("c", [Event("bot", "four")], after=3)
    assert [e.text for e in a.events("c")] == ["one", "two", "three", "four"]

    # longer than what is kept: the whole conversation is read from the database, in order
    for n in range(5, 12):
        (a if n % 2 else b).append("c", [Event("user", str(n))], after=n - 1)
    assert [e.seq for e in a.events("c")] == list(range(1, 12)) == [e.seq for e in b.events("c")]
    assert [e.seq for e in a.recent("c", 4)] == [8, 9, 10, 11]
    assert len(a.kept.get("c").events) == 5

    # a conversation never stored is not kept; at most CONVERSATIONS are, the least recent go first
    assert a.events("nobody") == [] and a.kept.get("nobody") is None
    for cid in ("d", "e", "f"):
        a.append(cid, [Event("user", cid)])
    assert a.kept.get("c") is None and [e.text for e in a.events("c")][-1] == "11"
    with pytest.raises(AttributeError):  # what is kept is shared: an event cannot be changed
        a.events("d")[0].text = "changed"
    a.close()
    b.close()


def test_a_sqlite_store_leaves_no_lock_folder_beside_it_or_in_the_working_directory(tmp_path, monkeypatch):
    from memchat.store.locks import lock_dir_of
    from memchat.store.tracker_store import Store

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    store = Store("sqlite:///memchat.db")
    from memchat.store.event import Event

    store.append("c", [Event("user", "hi")])
    store.close()
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith("memchat.db")) == []
    assert not any(p.is_dir() for p in work.iterdir())  # no memchat.db.locks/
    assert lock_dir_of(work / "memchat.db") == lock_dir_of(Path("memchat.db"))  # one place per file
    assert lock_dir_of(work / "memchat.db").is_relative_to(tmp_path / "cache")
    assert lock_dir_of(work / "memchat.db") != lock_dir_of(work / "other.db")
