"""The default bot's corpus (dialogues/), its generator and `memchat init`."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from memchat.babi import BOT, KB, SILENCE, USER, read_candidates, read_dialogs, read_kb
from memchat.cli import cli
from memchat.corpus import write_corpus
from memchat.kbquery import NO_RESULT, run_call
from memchat.train import folder_settings

DIALOGUES = Path(__file__).resolve().parents[1] / "dialogues"


def test_the_checked_in_corpus_is_the_generators_output(tmp_path):
    written = write_corpus(tmp_path, seed=0)
    assert sorted(p.name for p in DIALOGUES.iterdir()) == sorted(p.name for p in written)
    for path in written:
        assert (DIALOGUES / path.name).read_text() == path.read_text(), path.name


def test_dev_phrasings_are_not_in_the_training_dialogues():
    def said(name):
        return {t.text for d in read_dialogs(DIALOGUES / name) for t in d.turns if t.speaker == USER}

    train, dev = said("restaurant-trn.txt"), said("restaurant-dev.txt")
    assert len(dev) > 200
    assert dev & train == {SILENCE}


def test_recorded_results_are_what_the_knowledge_base_answers_and_replies_are_candidates():
    facts = read_kb(DIALOGUES / "restaurant-kb.txt")
    candidates = set(read_candidates(DIALOGUES / "restaurant-candidates.txt"))
    calls, nothing = 0, 0
    for name in ("restaurant-trn.txt", "restaurant-dev.txt"):
        for d in read_dialogs(DIALOGUES / name):
            turns = d.turns
            for i, t in enumerate(turns):
                if t.speaker == BOT:
                    assert t.text in candidates, f"{name}:{t.line}"
                if t.speaker == BOT and t.text.startswith("api_call"):
                    results = [r.text for r in turns[i + 1 :] if r.speaker == KB]
                    recorded = results[: len(run_call(facts, t.text))]
                    assert recorded == run_call(facts, t.text), f"{name}:{t.line}"
                    calls += 1
                    nothing += recorded == [NO_RESULT]
    assert nothing > 100  # some searches find nothing: the bot asks what to change, then searches again
    assert calls == 1150 + nothing  # one per dialogue, and one more after each that found nothing


@pytest.mark.parametrize(
    "text,message",
    [
        ("[train]\nhopz = 2\n", "[train] hopz: unknown setting"),
        ('[train]\nhops = "two"\n', "[train] hops: expected int, got 'two'"),
        ("[train]\nhops = true\n", "[train] hops: expected int, got True"),
        ("[train\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_and_setting(tiny, text, message):
    (tiny / "config.toml").write_text(text)
    result = CliRunner().invoke(cli, ["train", str(tiny), "--epochs", "1"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{tiny / 'config.toml'}: " in result.output and message in result.output
