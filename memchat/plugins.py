"""The plugin manager: built-in plugins always, installed ones (entry-point group ``memchat``) lazily."""

from __future__ import annotations

import importlib
import sys

import pluggy

from memchat import hookspecs

# Plugins that ship with memchat (the project's plugins/ folder, installed as memchat_plugins).
DEFAULT_PLUGINS = ("memchat_plugins.kb",)

_manager: pluggy.PluginManager | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, built on first use: importing memchat loads no plugin."""
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager("memchat")
        pm.add_hookspecs(hookspecs)
        for name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
        if not getattr(sys, "_called_from_test", False):  # tests see the built-ins only
            pm.load_setuptools_entrypoints("memchat")
        _manager = pm
    return _manager
