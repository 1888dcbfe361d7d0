import pytest
import torch
from click.testing import CliRunner

from memchat.babi.files import read_dialogs, read_kb
from memchat.cli.group import cli
from memchat.nn.batches import candidate_bags, candidate_entities, encode_dialogs
from memchat.nn.evaluate import predict, score
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N, MemN2NConfig
from memchat.nn.trainer import TrainConfig, train


def fit(tiny, seed=0, epochs=40):
    dialogs = read_dialogs(tiny / "tiny-trn.txt")
    feat = Featurizer.from_training(dialogs, None, read_kb(tiny / "tiny-kb.txt"))
    enc = encode_dialogs(feat, dialogs)
    torch.manual_seed(seed)
    model = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=16, hops=2),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    result = train(
        model, feat, enc, enc, TrainConfig(epochs=epochs, patience=epochs, lr=0.05, batch_dialogs=1, seed=seed)
    )
    return model, feat, enc, result


def test_overfits_a_few_dialogues(tiny):
    model, feat, enc, result = fit(tiny)
    before = 1 / len(feat.candidates)
    assert result.best_dev.per_response == 1.0 > before
    assert score(predict(model, feat, enc), enc).per_dialog == 1.0


def test_same_seed_same_run(tiny):
    a = fit(tiny, seed=3, epochs=3)
    b = fit(tiny, seed=3, epochs=3)
    c = fit(tiny, seed=4, epochs=3)
    assert [r.loss for r in a[3].epochs] == [r.loss for r in b[3].epochs]
    assert torch.equal(a[0].A.weight, b[0].A.weight)
    assert not torch.equal(a[0].A.weight, c[0].A.weight)


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
