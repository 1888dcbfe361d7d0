import multiprocessing

from memchat.store.tracker_store import Store


def _chat(model, db, worker, turns, errors):
    import torch

    torch.set_num_threads(1)
    from memchat.bot import Bot

    bot = Bot.load(model, db=db)
    try:
        for i in range(turns):
            cid = "shared" if i % 2 == 0 else f"own{worker}"
            replies = bot.respond(cid, f"hi {worker} {i}")
            assert len(replies) >= 1 and replies[0], replies
    except Exception as e:  # reported to the test, which fails on any
        errors.put(f"worker {worker}: {type(e).__name__}: {e}")
        raise


def test_eight_processes_fifty_turns_each_on_one_database(small, db_url):
    """Eight processes as eight nodes (each its own engine and locks) on one conversation and
    their own: on SQLite (file locks), on PostgreSQL (advisory locks, nothing shared but the database)."""
    db = db_url
    Store(db).close()
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_chat, args=(str(small / "model"), db, w, 50, errors)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert errors.empty(), errors.get()
    assert all(p.exitcode == 0 for p in procs)
    store = Store(db)
    shared = store.events("shared")
    assert [e.seq for e in shared] == list(range(1, len(shared) + 1))
    # every turn once, and each user turn directly followed by its own replies (no interleaving)
    users = [k for k, e in enumerate(shared) if e.speaker == "user" and not (e.data or {}).get("implicit")]
    assert len(users) == 8 * 25
    for k in users:
        assert shared[k + 1].speaker == "bot"
    for w in range(8):
        mine = [e.text for e in shared if e.text.startswith(f"hi {w} ")]
        assert mine == [f"hi {w} {i}" for i in range(0, 50, 2)]
        own = store.events(f"own{w}")
        assert [e.text for e in own if e.text.startswith("hi ")] == [f"hi {w} {i}" for i in range(1, 50, 2)]
