"""The network and what feeds it: the featurizer (words, entities, word classes, match and context features),
the MemN2N model (``model.py``, torch only) and its config, batches and the training loop
(torch), the live ranker (numpy: serving needs no torch), bundles on disk (safetensors), scores.
It imports only the shared types below it (``memchat.dialogs``, ``memchat.errors``,
``memchat.sparse``), numpy, and torch where it trains; never a dataset format, a project or the
dialogue."""
