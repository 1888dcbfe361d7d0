"""The one exception type memchat raises for bad input; the CLI turns it into a one-line error."""


class MemchatError(Exception):
    """A problem with the user's input (a file, a flag, a bundle), said in one line."""
