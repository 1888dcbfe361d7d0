"""Training a bot: one library call from a folder to a bundle (``train_bot``).

    bundle, result = train_bot("dialogues", seed=0)          # read, featurize, train, save
    data = read_training_data(path, task=5); model, result = data.fit(seed=1)   # the steps, for benches

A folder is a source: a bot project (``memchat.project.source``) or a dialog bAbI folder
(``memchat.babi.source``); each gives the same ``TrainingData``, and the trainer
(``memchat.nn.trainer``) knows neither. The command line (``memchat train``) only parses its
flags, calls ``train_bot`` and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from memchat.nn.bundle import Bundle, bundle_metadata, save_bundle
from memchat.nn.trainer import EpochReport, TrainResult
from memchat.nn.training_data import TrainingData, check_settings


def read_training_data(
    path: str | Path, task: int | None = None, seed: int = 0, domain: str | None = None, **settings
) -> TrainingData:
    """The training set of the folder (or file) at ``path``. ``settings`` (MemN2NConfig and
    TrainConfig fields; None means "not given") win over the folder's config.toml, which wins
    over the source's defaults. ``domain``: a bot project's domain file, as Rasa's ``--domain``."""
    from memchat.errors import MemchatError
    from memchat.project.folder import is_project

    path = Path(path)
    given = {k: v for k, v in settings.items() if v is not None}
    check_settings(given)
    if is_project(path) or (domain is not None and path.is_dir()):
        from memchat.project.source import read_project

        return read_project(path, seed, given, domain)
    if domain is not None:
        raise MemchatError(f"{path}: --domain is for a bot project folder")
    from memchat.babi.source import read_task_folder

    return read_task_folder(path, task, seed, given)


def train_bot(
    path: str | Path,
    task: int | None = None,
    *,
    out: str | Path = "models",
    name: str | None = None,
    seed: int = 0,
    match: bool | None = None,
    context: bool | None = None,
    on_start: Callable[[TrainingData], None] | None = None,
    on_batch: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    domain: str | None = None,
    **settings,
) -> tuple[Bundle, TrainResult]:
    """Train a bot on the dialogues at ``path`` (a folder or a ``-trn.txt`` file) and write its
    bundle to ``out/name`` (default name ``task<N>-<date>-<time>``); returns the bundle, loaded,
    and the run's figures.

    ``settings`` are MemN2NConfig and TrainConfig fields (``dim=32``, ``epochs=10``...); ``match=False``
    leaves out the match features (and the context ones with them), ``context=False`` keeps the
    paper's features only. The callbacks feed a progress display."""
    if match is False:
        settings["match"] = False
    if context is False:
        settings["context"] = False
    data = read_training_data(path, task, seed=seed, domain=domain, **settings)
    if on_start:
        on_start(data)
    model, result = data.fit(on_batch=on_batch, on_epoch=on_epoch)
    if not name:
        prefix = f"task{data.task}" if data.task is not None else "model"
        name = f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}"
    extra = data.describe(result)
    if Path(path).is_dir():  # memchat start and test retrain when the folder changes
        from memchat.project.folder import hash_folder

        extra["source_hash"] = hash_folder(Path(path))
    metadata = bundle_metadata(model, data.featurizer, extra)
    path = save_bundle(Path(out) / name, model, data.featurizer, metadata=metadata)
    return Bundle.of_model(model, data.featurizer, metadata, path), result
