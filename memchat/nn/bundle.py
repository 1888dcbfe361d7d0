"""Model bundles: one folder (or a .tar.gz of it) holding all that is needed to answer.

    <bundle>/metadata.json      memchat version, configs, vocabulary, entities, candidates, figures
    <bundle>/model.safetensors  the weights (never pickle)
    <bundle>/candidates.safetensors  the candidates' word and entity ids, as the model was trained on
                                them (``Featurizer.candidate_ids``); a bundle without it reads them again

Writes are atomic: the folder is written under a temporary name and renamed when complete.
Loading checks the format, the version and every tensor's shape, and says what is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from memchat import sparse
from memchat.errors import MemchatError, need_torch
from memchat.nn.config import MemN2NConfig, weight_shapes
from memchat.nn.entities import EntityTable
from memchat.nn.featurize import CANDIDATE_IDS, Featurizer, Vocabulary
from memchat.version import __version__

if TYPE_CHECKING:
    from memchat.nn.model import MemN2N

FORMAT = "memchat-bundle"
FORMAT_VERSION = 1  # bump when a bundle written now could not be read by older code
METADATA = "metadata.json"
WEIGHTS = "model.safetensors"
CANDIDATES = "candidates.safetensors"


@dataclass
class Bundle:
    """A loaded bundle. Its weights are numpy arrays, all the live path (``ranker.py``) reads;
    ``model`` rebuilds the torch network from them, for batch evaluation and further training."""

    config: MemN2NConfig
    weights: dict[str, np.ndarray]  # by their names in MemN2N.state_dict(), float32
    featurizer: Featurizer
    metadata: dict
    path: Path

    @cached_property
    def model(self) -> MemN2N:
        """The torch network (needs torch: ``pip install "memchat[train]"``), in eval mode."""
        need_torch("the torch model of a bundle")
        import torch

        from memchat.nn.batches import candidate_bags, candidate_entities
        from memchat.nn.model import MemN2N

        model = MemN2N(self.config, candidate_bags(self.featurizer), candidate_entities(self.featurizer))
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights.items()})
        return model.eval()

    @classmethod
    def of_model(cls, model: MemN2N, featurizer: Featurizer, metadata: dict, path: Path) -> Bundle:
        """The bundle a just-trained ``model`` was saved as, without reading it back."""
        bundle = cls(model.config, model.numpy_weights(), featurizer, metadata, path)
        bundle.model = model.eval()  # the cached property's value
        return bundle


def bundle_metadata(model: MemN2N, featurizer: Featurizer, extra: dict) -> dict:
    """What ``metadata.json`` holds: format, configs, vocabulary, entities, candidates, and ``extra``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "memchat_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": model.config.to_dict(),
        "vocabulary": featurizer.vocab.words,
        "entity_types": featurizer.entities.types,
        "entities": featurizer.entities.entities,
        "subjects": featurizer.entities.subjects,
        "candidates": featurizer.candidates,
        **(
            {"candidate_texts": featurizer.candidate_texts}
            if featurizer.candidate_texts != featurizer.candidates
            else {}
        ),
        **({"aliases": featurizer.entities.aliases} if featurizer.entities.aliases else {}),
        **extra,
    }


def save_bundle(
    path: str | Path, model: MemN2N, featurizer: Featurizer, extra: dict | None = None, metadata: dict | None = None
) -> Path:
    """Write a bundle folder at ``path`` (which must not exist yet); return its path.
    ``metadata``: as ``bundle_metadata`` made it, else made from ``extra``."""
    path = Path(path)
    if path.exists():
        raise MemchatError(f"{path}: already exists; choose another --out or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if metadata is None:
        metadata = bundle_metadata(model, featurizer, extra or {})
    from safetensors.torch import save_file as save_tensors  # a model to save was trained: torch is here

    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_tensors(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        save_file(featurizer.candidate_ids, str(tmp / CANDIDATES), metadata={"format": FORMAT})
        (tmp / METADATA).write_text(json.dumps(metadata, ensure_ascii=False, indent=1) + "\n")
        for name in (WEIGHTS, CANDIDATES, METADATA, "."):  # on disk before the rename makes the bundle visible
            fd = os.open(tmp / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle folder or .tar.gz, checking it thoroughly."""
    path = Path(path)
    if not path.exists():
        raise MemchatError(f"{path}: no such bundle")
    if path.is_file():
        import tarfile  # only for a packed bundle: a folder, what serving reads, needs none

        if not tarfile.is_tarfile(path):
            raise MemchatError(f"{path}: not a memchat bundle (expected a folder or a .tar.gz)")
        with tempfile.TemporaryDirectory() as tmp:
            folder = _extract(path, Path(tmp))
            bundle = _load_folder(folder, shown=path)
        bundle.path = path
        return bundle
    return _load_folder(path, shown=path)


MAX_EXTRACTED = 2**30  # bytes a .tar.gz bundle may extract to (a bundle is a few MB to a few hundred)
MAX_ENTRIES = 100  # files and folders in it (a bundle has four)


def _extract(archive: Path, into: Path) -> Path:
    import tarfile

    try:
        with tarfile.open(archive) as tar:
            members, size = [], 0
            for m in tar:  # one header at a time: a bomb is refused before it is all read
                target = (into / m.name).resolve()  # only plain files and folders, nothing outside ``into``
                if not (m.isfile() or m.isdir()) or not target.is_relative_to(into.resolve()):
                    raise MemchatError(f"{archive}: unsafe entry '{m.name}' in the archive")
                members.append(m)
                size += m.size
                if len(members) > MAX_ENTRIES or size > MAX_EXTRACTED:
                    raise MemchatError(
                        f"{archive}: extracts to more than {MAX_ENTRIES} entries or "
                        f"{MAX_EXTRACTED // 2**20} MiB: not a memchat bundle"
                    )
            tar.extractall(into, members=members)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise MemchatError(f"{archive}: damaged archive ({e})") from None
    found = [p.parent for p in into.rglob(METADATA)]
    if not found:
        raise MemchatError(f"{archive}: not a memchat bundle (no {METADATA} inside)")
    if len(found) > 1:
        raise MemchatError(f"{archive}: expected one bundle inside, found {len(found)}")
    return found[0]


def _load_folder(folder: Path, shown: Path) -> Bundle:
    meta_path = folder / METADATA
    if not meta_path.is_file():
        raise MemchatError(f"{shown}: not a memchat bundle (no {METADATA})")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MemchatError(f"{shown}/{METADATA}: damaged ({e})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise MemchatError(f"{shown}: not a memchat bundle ({METADATA} has no format '{FORMAT}')")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise MemchatError(
            f"{shown}: made by memchat {metadata.get('memchat_version', '?')} in bundle format "
            f"{version}; this memchat {__version__} reads format {FORMAT_VERSION} and older: upgrade memchat"
        )
    kinds = {"config": dict, "vocabulary": list, "entity_types": list, "entities": dict, "candidates": list}
    for key, kind in kinds.items():
        if not isinstance(metadata.get(key), kind):
            raise MemchatError(f"{shown}/{METADATA}: field '{key}' is missing or not a {kind.__name__}")
    try:
        config = MemN2NConfig(**{"match_kinds": 3, **metadata["config"]})  # 3: bundles before the field
    except TypeError as e:
        raise MemchatError(f"{shown}/{METADATA}: field 'config' does not fit this memchat ({e})") from None
    check_metadata(metadata, config, f"{shown}/{METADATA}")
    vocab = Vocabulary(metadata["vocabulary"][1:])
    subjects = metadata.get("subjects", {})  # bundles before the focus match feature lack it
    if not isinstance(subjects, dict):
        raise MemchatError(f"{shown}/{METADATA}: field 'subjects' is not a dict")
    aliases, texts = metadata.get("aliases", {}), metadata.get("candidate_texts")
    if not isinstance(aliases, dict) or (
        texts is not None and (not isinstance(texts, list) or len(texts) != len(metadata["candidates"]))
    ):
        raise MemchatError(f"{shown}/{METADATA}: field 'aliases' or 'candidate_texts' is damaged")
    entities = EntityTable(metadata["entity_types"], metadata["entities"], subjects, aliases)
    if len(vocab) + config.subwords != config.vocab_size or len(entities.types) != config.num_entity_types:
        raise MemchatError(f"{shown}/{METADATA}: vocabulary or entity types do not match the config")
    featurizer = Featurizer(
        vocab,
        entities,
        metadata["candidates"],
        context=config.context,
        kinds=config.match_kinds,
        candidate_texts=texts,
        subwords=config.subwords,
        candidate_ids=_candidate_ids(folder, shown, len(metadata["candidates"]), config.vocab_size, len(entities)),
    )

    if metadata.get("fuzzy") is True:
        featurizer.correct_slips()
    weights_path = folder / WEIGHTS
    if not weights_path.is_file():
        raise MemchatError(f"{shown}: {WEIGHTS} is missing")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, TypeError) as e:  # TypeError: a dtype numpy lacks
        raise MemchatError(f"{shown}/{WEIGHTS}: damaged ({e})") from None
    expected = weight_shapes(config)
    for name, shape in expected.items():
        if name not in tensors:
            raise MemchatError(f"{shown}/{WEIGHTS}: tensor '{name}' is missing")
        if tensors[name].shape != shape:
            raise MemchatError(
                f"{shown}/{WEIGHTS}: tensor '{name}' has shape {tuple(tensors[name].shape)}, expected {shape}"
            )
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise MemchatError(f"{shown}/{WEIGHTS}: unexpected tensor '{unexpected[0]}'")
    for name, tensor in tensors.items():
        if tensor.dtype != np.float32 or not bool(np.isfinite(tensor).all()):
            raise MemchatError(
                f"{shown}/{WEIGHTS}: tensor '{name}' must hold finite float32 numbers (it is {tensor.dtype}"
                + (")" if tensor.dtype != np.float32 else ", with NaN or infinite values)")
            )
    return Bundle(config=config, weights=tensors, featurizer=featurizer, metadata=metadata, path=shown)


def _candidate_ids(folder: Path, shown: Path, candidates: int, words: int, entities: int) -> dict | None:
    """The candidates' ids the bundle stores (``CANDIDATES``), checked: a table of ``candidates``
    rows of word ids under ``words`` and entity ids under ``entities``. None for a bundle made
    before they were stored: its candidates are read again."""
    path = folder / CANDIDATES
    if not path.is_file():
        return None
    try:
        ids = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise MemchatError(f"{shown}/{CANDIDATES}: damaged ({e})") from None
    if unexpected := sorted(set(ids) - set(CANDIDATE_IDS)):
        raise MemchatError(f"{shown}/{CANDIDATES}: unexpected tensor '{unexpected[0]}'")
    for name, below in (("words", words), ("entities", entities)):
        items, at = ids.get(name), ids.get(f"{name}_at")
        if items is None or at is None:
            raise MemchatError(f"{shown}/{CANDIDATES}: tensor '{name if items is None else name + '_at'}' is missing")
        for key, tensor in ((name, items), (f"{name}_at", at)):
            if tensor.dtype != np.int32 or tensor.ndim != 1:
                raise MemchatError(f"{shown}/{CANDIDATES}: tensor '{key}' must be one row of int32s")
        if not sparse.offsets_fit(at, candidates, len(items)):
            raise MemchatError(
                f"{shown}/{CANDIDATES}: tensor '{name}_at' must rise from 0 to {len(items)} in {candidates + 1} steps"
            )
        if len(items) and not (0 <= items.min() and items.max() < below):
            raise MemchatError(f"{shown}/{CANDIDATES}: tensor '{name}' holds ids outside 0 to {below - 1}")
    return ids


# What a config field may hold: (type, least, most); the most keep an edited bundle from asking for
# more memory than a machine has (dim 100,000 x the vocabulary would be 40 GB).
CONFIG_RANGES = {
    "vocab_size": (int, 1, 5_000_000),
    "num_entity_types": (int, 0, 100_000),
    "speakers": (int, 3, 3),
    "dim": (int, 2, 4096),
    "hops": (int, 1, 10),
    "memory": (int, 1, 100_000),
    "match": (bool, 0, 1),
    "context": (bool, 0, 1),
    "match_kinds": (int, 1, 4),
    "dropout": (float, 0.0, 0.999),
    "subwords": (int, 0, 1_000_000),
    "subword_weight": (float, 0.0, 1.0),
}
MAX_PARAMETERS = 200_000_000  # embedding weights a bundle may ask for (800 MB of float32)


def check_metadata(metadata: dict, config: MemN2NConfig, where: str) -> None:
    """Every field of an (edited, damaged) bundle's metadata is of its type, in its range and of a
    size that fits the others; one line naming the field otherwise."""
    for name, (kind, least, most) in CONFIG_RANGES.items():
        value = getattr(config, name)
        ok = (
            isinstance(value, bool)
            if kind is bool
            else (isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool))
        )
        if not ok or not (least <= value <= most) or (kind is float and value != value):
            raise MemchatError(
                f"{where}: config '{name}' must be {kind.__name__} from {least} to {most}, got {value!r}"
            )
    if config.vocab_size * config.dim * 2 > MAX_PARAMETERS:
        raise MemchatError(
            f"{where}: config asks for {config.vocab_size * config.dim * 2:,} weights; at most {MAX_PARAMETERS:,}"
        )

    def strings(key: str, value) -> None:
        # the types of a whole list at once (task 5's 5,000 strings: a generator took 2 ms)
        if not isinstance(value, list) or not set(map(type, value)) <= {str}:
            raise MemchatError(f"{where}: field '{key}' must be a list of strings")

    for key in ("vocabulary", "entity_types", "candidates"):
        strings(key, metadata[key])
    if metadata.get("candidate_texts") is not None:
        strings("candidate_texts", metadata["candidate_texts"])
    if not metadata["candidates"]:
        raise MemchatError(f"{where}: field 'candidates' is empty")
    types = len(metadata["entity_types"])
    kinds = metadata["entities"].values()
    if not (set(map(type, kinds)) <= {int} and min(kinds, default=0) >= 0 and max(kinds, default=-1) < types):
        word, t = next((w, t) for w, t in metadata["entities"].items() if type(t) is not int or not 0 <= t < types)
        raise MemchatError(f"{where}: field 'entities': '{word}' has type {t!r}, expected 0 to {types - 1}")
    for key, value_kind in (("subjects", list), ("aliases", str)):
        table = metadata.get(key, {})
        if not isinstance(table, dict) or not set(map(type, table.values())) <= {value_kind}:
            raise MemchatError(f"{where}: field '{key}' must map words to {value_kind.__name__}s")
    for key in ("continue_after",):
        if metadata.get(key) is not None:
            strings(key, metadata[key])


def pack_bundle(folder: str | Path, archive: str | Path) -> Path:
    """Write ``folder`` as a .tar.gz at ``archive`` (atomically)."""
    import tarfile

    folder, archive = Path(folder), Path(archive)
    tmp = archive.with_name(f".{archive.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    os.replace(tmp, archive)
    return archive
