"""memchat: a response-selection bot built on an End-to-End Memory Network.

``from memchat import Bot`` is the embedding API (``memchat.bot``); it is imported on first use,
so ``import memchat`` stays cheap.
"""

from memchat.version import __version__  # noqa: F401  (memchat.__version__)


def __getattr__(name: str):
    if name == "Bot":
        from memchat.bot import Bot

        return Bot
    raise AttributeError(f"module 'memchat' has no attribute {name!r}")
