import time

import pytest

from memchat.babi.files import read_candidates, read_dialogs, read_kb
from memchat.dialogs import BOT, KB, SILENCE, USER
from memchat.errors import MemchatError


def write(tmp_path, text, name="d.txt", mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_turns_silence_kb_lines_and_id_restart(tmp_path):
    p = write(tmp_path, "1 hi\thello\n2 <SILENCE>\tapi_call x\n3 resto R_phone resto_phone\n1 again\thello\n")
    d1, d2 = read_dialogs(p)
    assert [(t.speaker, t.text, t.line) for t in d1.turns] == [
        (USER, "hi", 1),
        (BOT, "hello", 1),
        (USER, SILENCE, 2),
        (BOT, "api_call x", 2),
        (KB, "resto R_phone resto_phone", 3),
    ]
    assert d1.bot_turns == [1, 3]
    assert d2.line == 4 and [t.text for t in d2.turns] == ["again", "hello"]


def test_blank_lines_separate_dialogues_and_dstc2_text_is_kept(tmp_path):
    p = write(
        tmp_path,
        "1 <SILENCE>\tHello , welcome ?\n2 \t you are welcome\n\n\n"
        "1 im looking for thai\tapi_call thai R_location cheap\n2 api_call no result\n",
    )
    d1, d2 = read_dialogs(p)
    # DSTC2 keeps capitals and punctuation; a bot reply's leading space goes, an empty user side is silence
    assert d1.turns[1].text == "Hello , welcome ?"
    assert d1.turns[2].text == SILENCE and d1.turns[3].text == "you are welcome"
    assert d2.turns[2].speaker == KB and d2.turns[2].text == "api_call no result"


@pytest.mark.parametrize(
    "text, message",
    [
        ("hi\thello\n", "d.txt:1: expected 'ID text'"),
        ("1 hi\thello\n3 x\ty\n", "d.txt:2: expected turn id 2 (or 1 to start a new dialogue), got 3"),
        ("2 hi\thello\n", "d.txt:1: expected turn id 1, got 2"),
        ("1 hi\t\n", "d.txt:1: empty bot reply after the tab"),
        ("1 hi\ta\tb\n", "d.txt:1: expected one tab between user and bot"),
        ("1 \n", "d.txt:1: nothing after the turn id 1"),
        ("0 hi\thello\n", "d.txt:1: expected 'ID text'"),
        ("\n\n", "d.txt: no dialogues found"),
    ],
)
def test_malformed_lines_name_file_line_and_expectation(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(MemchatError) as e:
        read_dialogs(p)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_non_utf8_and_missing_files(tmp_path):
    p = write(tmp_path, b"1 hi\thello\n2 caf\xe9\tok\n")
    with pytest.raises(MemchatError, match=r"d.txt:2: not UTF-8"):
        read_dialogs(p)
    with pytest.raises(MemchatError, match="no such file"):
        read_dialogs(tmp_path / "nope.txt")
    with pytest.raises(MemchatError, match="is a folder"):
        read_dialogs(tmp_path)


def test_candidates_and_kb(tmp_path):
    c = write(tmp_path, "1 hello\n1  you are welcome\n1 hello\n", "c.txt")
    assert read_candidates(c) == ["hello", "you are welcome"]
    kb = write(tmp_path, "1 resto_a R_cuisine\titalian\n1 cote R_price expensive\n", "kb.txt")
    facts = read_kb(kb)
    assert [(f.subject, f.relation, f.value) for f in facts] == [
        ("resto_a", "R_cuisine", "italian"),
        ("cote", "R_price", "expensive"),
    ]
    bad = write(tmp_path, "1 resto_a cuisine italian\n", "bad.txt")
    with pytest.raises(MemchatError, match="bad.txt:1: expected 'ID name R_relation value'"):
        read_kb(bad)


def test_largest_babi_file_reads_whole_and_quickly(babi):
    path = babi / "dialog-babi-task6-dstc2-trn.txt"
    read_dialogs(path)  # warm the file cache
    t = time.perf_counter()
    dialogs = read_dialogs(path)
    # about 0.3 s here; the bound catches a reader gone quadratic, not this shared machine's slow
    # hours (0.84 s in one CI run, against a bound of 0.8 s then)
    assert time.perf_counter() - t < 2.5
    assert len(dialogs) == 1618
    assert sum(len(d.bot_turns) for d in dialogs) == 14404


def test_a_turn_whose_tab_became_spaces_is_one_line_naming_it(tmp_path):
    import pytest

    from memchat.babi.files import read_dialogs
    from memchat.errors import MemchatError

    path = tmp_path / "x-trn.txt"
    path.write_text("1 hello there    hello what can i help you with today\n")
    with pytest.raises(MemchatError, match=r"x-trn.txt:1: expected 'ID user<TAB>bot'.*found no tab"):
        read_dialogs(path)


def test_a_bot_reply_not_among_the_candidates_is_one_line_naming_it(tiny):
    import pytest

    from memchat.errors import MemchatError
    from memchat.train import read_training_data

    replies = {line.split("\t")[1] for line in (tiny / "tiny-trn.txt").read_text().splitlines() if "\t" in line}
    (tiny / "tiny-candidates.txt").write_text("".join(f"1 {r}\n" for r in sorted(replies)))
    read_training_data(tiny)  # every reply is a candidate: fine
    (tiny / "tiny-candidates.txt").write_text(
        "".join(f"1 {r}\n" for r in sorted(replies) if r != "sorry nothing found")
    )
    with pytest.raises(MemchatError, match=r"tiny-trn.txt:13: bot reply not among the candidates of .*'sorry nothing"):
        read_training_data(tiny)
