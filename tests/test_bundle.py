import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from memchat.babi.files import read_dialogs, read_kb
from memchat.errors import MemchatError
from memchat.nn.batches import candidate_bags, candidate_entities, encode_dialogs, make_batch
from memchat.nn.bundle import load_bundle, pack_bundle, save_bundle
from memchat.nn.evaluate import predict
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N, MemN2NConfig


@pytest.fixture(params=[False, True], ids=["paper", "context"])
def saved(tiny, tmp_path, request):
    dialogs = read_dialogs(tiny / "tiny-trn.txt")
    feat = Featurizer.from_training(dialogs, None, read_kb(tiny / "tiny-kb.txt"), context=request.param)
    torch.manual_seed(0)
    model = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=8, hops=2, context=request.param),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    model.eval()
    path = save_bundle(tmp_path / "b", model, feat, {"training": {"best_epoch": 1}})
    return path, model, feat, dialogs


def test_round_trip_gives_the_same_scores(saved):
    path, model, feat, dialogs = saved
    bundle = load_bundle(path)
    enc = encode_dialogs(feat, dialogs)
    batch = make_batch(feat, enc, torch.arange(len(dialogs)))
    with torch.no_grad():
        assert torch.equal(
            model(batch)[0],
            bundle.model(make_batch(bundle.featurizer, encode_dialogs(bundle.featurizer, dialogs), torch.arange(2)))[0],
        )
    assert bundle.featurizer.candidates == feat.candidates
    assert bundle.featurizer.entities.entities == feat.entities.entities
    assert bundle.featurizer.entities.subjects == feat.entities.subjects and feat.entities.subjects
    assert bundle.featurizer.context == feat.context
    meta = bundle.metadata
    assert meta["format"] == "memchat-bundle" and meta["training"] == {"best_epoch": 1}
    assert {"memchat_version", "created", "config", "vocabulary"} <= set(meta)
    assert not list(path.parent.glob(".b.*"))  # no temporary folder left behind


def test_bundles_before_the_next_match_kind_still_load(tiny, tmp_path):
    dialogs = read_dialogs(tiny / "tiny-trn.txt")
    feat = Featurizer.from_training(dialogs, None, read_kb(tiny / "tiny-kb.txt"), context=True)
    feat = Featurizer(feat.vocab, feat.entities, feat.candidates, context=True, kinds=3)
    model = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=8, hops=2, context=True, match_kinds=3),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    path = save_bundle(tmp_path / "old", model.eval(), feat, {})
    meta = json.loads((path / "metadata.json").read_text())
    del meta["config"]["match_kinds"]  # as bundles made before the field have it
    (path / "metadata.json").write_text(json.dumps(meta))
    bundle = load_bundle(path)
    assert bundle.model.config.match_kinds == 3 and bundle.featurizer.kinds == 3
    enc = encode_dialogs(feat, dialogs)
    assert torch.equal(predict(bundle.model, bundle.featurizer, enc), predict(model, feat, enc))


def test_the_candidates_ids_are_stored_and_equal_reading_them_again(saved):
    """A bundle keeps its candidates' ids (a quarter of task 5's start was reading 4,212 of them
    again): they equal what the texts give, the training side's lists come from them, and a
    bundle made before they were stored reads them again, to the same ranking."""
    import numpy as np

    from memchat.nn.ranker import Ranker

    path, model, feat, dialogs = saved
    stored = load_bundle(path)
    assert (path / "candidates.safetensors").is_file()
    assert "cand_words" not in vars(stored.featurizer)  # not read again from the texts
    for name, array in feat.candidate_ids.items():
        assert np.array_equal(stored.featurizer.candidate_ids[name], array), name
    assert stored.featurizer.cand_words == feat.cand_words and any(feat.cand_words)
    assert stored.featurizer.cand_entities == feat.cand_entities and any(feat.cand_entities)
    (path / "candidates.safetensors").unlink()  # as a bundle made before they were stored
    again = load_bundle(path)
    assert "cand_words" in vars(again.featurizer)
    turns = dialogs[0].turns[:3]
    a, b = Ranker.from_bundle(stored).rank(turns), Ranker.from_bundle(again).rank(turns)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.attention, b.attention)


def _edit_ids(path, change):
    from safetensors.numpy import load_file as load_arrays
    from safetensors.numpy import save_file as save_arrays

    ids = load_arrays(str(path / "candidates.safetensors"))
    change(ids)
    save_arrays(ids, str(path / "candidates.safetensors"))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ids: ids.pop("words_at"), "tensor 'words_at' is missing"),
        (lambda ids: ids.update(extra=ids["words"]), "unexpected tensor 'extra'"),
        (lambda ids: ids.update(words=ids["words"].astype("int64")), "tensor 'words' must be one row of int32s"),
        (lambda ids: ids.update(words_at=ids["words_at"][:-1]), "tensor 'words_at' must rise from 0"),
        (lambda ids: ids.update(entities_at=ids["entities_at"][::-1].copy()), "'entities_at' must rise from 0"),
        (lambda ids: ids["words"].__setitem__(0, 10**6), "tensor 'words' holds ids outside 0 to"),
        (lambda ids: ids["entities"].__setitem__(0, -1), "tensor 'entities' holds ids outside 0 to"),
    ],
)
def test_damaged_candidate_ids_say_what_is_wrong(saved, change, message):
    path = saved[0]
    _edit_ids(path, change)
    with pytest.raises(MemchatError) as e:
        load_bundle(path)
    assert f"{path}/candidates.safetensors: " in str(e.value) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_tar_gz_round_trip(saved, tmp_path):
    path, model, feat, dialogs = saved
    archive = pack_bundle(path, tmp_path / "b.tar.gz")
    bundle = load_bundle(archive)
    enc = encode_dialogs(feat, dialogs)
    assert torch.equal(predict(bundle.model, bundle.featurizer, enc), predict(model, feat, enc))


def test_refuses_to_overwrite(saved):
    path, model, feat, _ = saved
    with pytest.raises(MemchatError, match="already exists"):
        save_bundle(path, model, feat, {})


def edit_metadata(path, **changes):
    meta = json.loads((path / "metadata.json").read_text())
    meta.update(changes)
    (path / "metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "metadata.json").unlink(), "not a memchat bundle (no metadata.json)"),
        (lambda p: (p / "metadata.json").write_text("{oops"), "metadata.json: damaged"),
        (lambda p: edit_metadata(p, format="something-else"), "not a memchat bundle"),
        (lambda p: edit_metadata(p, format_version=99, memchat_version="9.0"), "upgrade memchat"),
        (lambda p: edit_metadata(p, candidates="x"), "field 'candidates' is missing or not a list"),
        (lambda p: edit_metadata(p, config={"dim": 3}), "field 'config' does not fit"),
        (lambda p: (p / "model.safetensors").unlink(), "model.safetensors is missing"),
        (
            lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:100]),
            "model.safetensors: damaged",
        ),
        (
            lambda p: (p / "candidates.safetensors").write_bytes(b"\x10" + bytes(20)),
            "candidates.safetensors: damaged",
        ),
    ],
)
def test_damaged_bundles_say_what_is_wrong(saved, damage, message):
    path = saved[0]
    damage(path)
    with pytest.raises(MemchatError) as e:
        load_bundle(path)
    assert message in str(e.value)


def test_wrong_shapes_and_foreign_files(saved, tmp_path):
    path = saved[0]
    tensors = load_file(str(path / "model.safetensors"))
    tensors["R.weight"] = torch.zeros(3, 3)
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(MemchatError, match=r"tensor 'R.weight' has shape \(3, 3\), expected \(8, 8\)"):
        load_bundle(path)
    foreign = tmp_path / "x.bin"
    foreign.write_bytes(b"\x00" * 600)
    with pytest.raises(MemchatError, match="not a memchat bundle"):
        load_bundle(foreign)
    with pytest.raises(MemchatError, match="no such bundle"):
        load_bundle(tmp_path / "missing")


def test_the_newest_bundle_is_never_a_hidden_one_being_written_nor_an_old_one(tmp_path):
    import os
    import time

    from memchat.bot import newest_bundle

    for i, name in enumerate(["real", ".real.x1y2", "real.old"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metadata.json").write_text("{}")
        os.utime(tmp_path / name, (time.time() + i, time.time() + i))
    assert newest_bundle(tmp_path) == tmp_path / "real"


def edit_config(path, **changes):
    meta = json.loads((path / "metadata.json").read_text())
    meta["config"].update(changes)
    (path / "metadata.json").write_text(json.dumps(meta))


def edit_weights(path, change):
    tensors = load_file(str(path / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(path / "model.safetensors"))


def _nan(tensors):
    tensors["R.weight"][0, 0] = float("nan")


def _int8(tensors):
    tensors["R.weight"] = tensors["R.weight"].to(torch.int8)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: edit_metadata(p, candidates=[1, 2, None]), "field 'candidates' must be a list of strings"),
        (lambda p: edit_metadata(p, entities={"x": 99}), "field 'entities': 'x' has type 99"),
        (lambda p: edit_config(p, dim=1e9), "config 'dim' must be int from 2 to 4096, got 1000000000.0"),
        (lambda p: edit_config(p, dim=100000), "config 'dim' must be int from 2 to 4096, got 100000"),
        (lambda p: edit_config(p, hops=-1), "config 'hops' must be int from 1 to 10, got -1"),
        (lambda p: edit_config(p, vocab_size=4_000_000, dim=4096), "config asks for"),
        (lambda p: edit_metadata(p, aliases={"a": 3}), "field 'aliases' must map words to strs"),
        (lambda p: edit_weights(p, _nan), "tensor 'R.weight' must hold finite float32 numbers"),
        (lambda p: edit_weights(p, _int8), "tensor 'R.weight' must hold finite float32 numbers (it is int8)"),
    ],
)
def test_edited_bundles_are_refused_naming_the_field(saved, damage, message):
    path = saved[0]
    damage(path)
    with pytest.raises(MemchatError) as e:
        load_bundle(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_an_archive_that_extracts_too_much_is_refused_before_it_is_written(saved, tmp_path, monkeypatch):
    import memchat.nn.bundle

    archive = pack_bundle(saved[0], tmp_path / "b.tar.gz")
    monkeypatch.setattr(memchat.nn.bundle, "MAX_EXTRACTED", 1000)  # the weights alone are more
    with pytest.raises(MemchatError, match="extracts to more than 100 entries or 0 MiB"):
        load_bundle(archive)
    monkeypatch.setattr(memchat.nn.bundle, "MAX_EXTRACTED", 2**30)
    monkeypatch.setattr(memchat.nn.bundle, "MAX_ENTRIES", 2)
    with pytest.raises(MemchatError, match="extracts to more than 2 entries"):
        load_bundle(archive)
