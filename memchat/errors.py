"""The one exception type memchat raises for bad input; the CLI turns it into a one-line error."""


class MemchatError(Exception):
    """A problem with the user's input (a file, a flag, a bundle), said in one line."""


TRAIN_EXTRA = 'pip install "memchat[train]"'  # what adds torch to a serving install


def need_torch(what: str) -> None:
    """One line, not a traceback, where ``what`` needs torch and this is a serving install
    (``pip install memchat`` answers without torch; training and batch evaluation need it)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MemchatError(f"{what} needs torch, which a serving install leaves out: {TRAIN_EXTRA}") from None
