import json

from click.testing import CliRunner

from memchat.cli.group import cli


def test_replay_of_the_training_dialogues_is_perfect(small):
    r = CliRunner().invoke(cli, ["replay", str(small / "model"), str(small / "small-dev.txt"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"per_response": 1.0, "per_dialog": 1.0, "responses": 12, "dialogs": 2}


def test_replay_without_the_knowledge_base_goes_wrong_after_the_api_call(small, tmp_path):
    (tmp_path / "empty-kb.txt").write_text("1 resto_c R_cuisine\tkorean\n")  # nothing the dialogues ask for
    r = CliRunner().invoke(
        cli,
        [
            "replay",
            str(small / "model"),
            str(small / "small-dev.txt"),
            "--kb",
            str(tmp_path / "empty-kb.txt"),
            "--errors",
            "5",
        ],
    )
    assert r.exit_code == 0, r.output
    # "api_call no result" comes back, so the proposal that follows cannot be the recorded one
    first = r.stdout.splitlines()[0]
    assert first.startswith("live per-response") and "per-response 1.0000" not in first
    assert "gold: what do you think of this option: resto_a" in r.stdout


def test_replay_keeps_conversations_in_the_given_store(small, tmp_path):
    from memchat.store.tracker_store import Store

    db = tmp_path / "r.db"
    r = CliRunner().invoke(cli, ["replay", str(small / "model"), str(small / "small-dev.txt"), "--db", str(db)])
    assert r.exit_code == 0, r.output
    convs = Store(f"sqlite:///{db}").conversations()
    assert len(convs) == 2 and all(c[0].startswith("small-dev-") for c in convs)
