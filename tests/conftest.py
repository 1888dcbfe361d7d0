import os
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


# A small restaurant task in the dialog bAbI task-5 form, with its knowledge base
SMALL_TRAIN = """\
1 hi	hello what can i help you with today
2 may i have a table in paris with italian food for six in a cheap price range	i'm on it
3 <SILENCE>	api_call italian paris six cheap
4 resto_a R_phone resto_a_phone
5 resto_a R_cuisine italian
6 resto_a R_address resto_a_address
7 resto_a R_location paris
8 resto_a R_number six
9 resto_a R_price cheap
10 resto_a R_rating 7
11 <SILENCE>	what do you think of this option: resto_a
12 let's do it	great let me do the reservation
13 thanks	you're welcome

1 hello	hello what can i help you with today
2 may i have a table in rome with french food for two in a expensive price range	i'm on it
3 <SILENCE>	api_call french rome two expensive
4 resto_b R_phone resto_b_phone
5 resto_b R_cuisine french
6 resto_b R_address resto_b_address
7 resto_b R_location rome
8 resto_b R_number two
9 resto_b R_price expensive
10 resto_b R_rating 3
11 <SILENCE>	what do you think of this option: resto_b
12 let's do it	great let me do the reservation
13 thanks	you're welcome
"""

SMALL_KB = "".join(
    f"1 {name} {rel}\t{value}\n"
    for name, facts in [
        ("resto_a", [("R_cuisine", "italian"), ("R_location", "paris"), ("R_price", "cheap"), ("R_rating", "7"),
                     ("R_phone", "resto_a_phone"), ("R_address", "resto_a_address"), ("R_number", "six")]),
        ("resto_b", [("R_cuisine", "french"), ("R_location", "rome"), ("R_price", "expensive"), ("R_rating", "3"),
                     ("R_phone", "resto_b_phone"), ("R_address", "resto_b_address"), ("R_number", "two")]),
        ("resto_c", [("R_cuisine", "korean"), ("R_location", "seoul"), ("R_price", "cheap"), ("R_rating", "5"),
                     ("R_phone", "resto_c_phone"), ("R_address", "resto_c_address"), ("R_number", "four")]),
    ]
    for rel, value in facts
)


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Path:
    """A folder with the small restaurant task (train = dev) and a bundle trained on it (./model)."""
    import torch

    from memchat.bundle import save_bundle
    from memchat.dialogs import read_dialogs, read_kb
    from memchat.featurize import Featurizer
    from memchat.model import MemN2N, MemN2NConfig
    from memchat.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("small")
    (folder / "small-trn.txt").write_text(SMALL_TRAIN)
    (folder / "small-dev.txt").write_text(SMALL_TRAIN)
    (folder / "small-kb.txt").write_text(SMALL_KB)
    dialogs = read_dialogs(folder / "small-trn.txt")
    feat = Featurizer.from_training(dialogs, None, read_kb(folder / "small-kb.txt"))
    torch.manual_seed(0)
    model = MemN2N(MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=24, hops=2, memory=50))
    model.set_candidates(feat.cand_bow)
    enc = feat.encode(dialogs)
    result = train(model, feat, enc, enc, TrainConfig(epochs=80, patience=80, lr=0.03, batch_dialogs=1))
    assert result.best_dev.per_response == 1.0, "the small model must learn its two dialogues"
    save_bundle(folder / "model", model, feat, {})
    return folder


BOOKING = "may i have a table in paris with italian food for six in a cheap price range"  # a SMALL_TRAIN turn


@pytest.fixture
def bot(small, tmp_path):
    """A Bot on the small model, with its own store and the small knowledge base loaded."""
    from memchat.bot import Bot

    b = Bot.load(small / "model", db=str(tmp_path / "m.db"), kb=small / "small-kb.txt")
    yield b
    b.close()
