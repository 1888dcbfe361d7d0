"""memchat: a response-selection bot built on an End-to-End Memory Network."""

__version__ = "0.1.0"
