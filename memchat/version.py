"""memchat's version, in a module of its own: the layers read it without importing the package's
facade (``memchat.Bot``)."""

__version__ = "0.1.0"
