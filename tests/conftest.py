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
