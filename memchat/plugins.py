"""The plugin manager: built-in plugins always; installed ones (entry-point group ``memchat``) lazily,
on first use, and not under memchat's own tests; the ``.py`` files of a plugins folder only when the
user names it (``--plugins-dir`` or ``$MEMCHAT_PLUGINS_DIR``): memchat never runs the code of a
folder it merely finds in the working directory.

A plugin that raises is reported by name and left out of that call: ``call_each`` runs a hook's
implementations one by one for the dialogue manager, so one broken plugin never costs a turn.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pluggy

from memchat import hookspecs
from memchat.errors import MemchatError

log = logging.getLogger("memchat.plugins")

# Plugins that ship with memchat (the project's plugins/ folder, installed as memchat_plugins). They
# are entry points of the memchat distribution too; registered here by the same names, so they are
# there under tests (no entry points) and loaded once whatever the working directory.
DEFAULT_PLUGINS = ("memchat_plugins.kb",)

_manager: pluggy.PluginManager | None = None


def get_plugin_manager(plugins_dir: str | Path | None = None) -> pluggy.PluginManager:
    """The process's plugin manager, built on first use: importing memchat loads no plugin.

    ``plugins_dir`` (or $MEMCHAT_PLUGINS_DIR) is read on that first call only; the command line
    passes ``--plugins-dir`` before anything else asks. No folder is loaded unless named. Under
    tests only the built-ins (and a named folder) are loaded."""
    global _manager
    if _manager is None:
        testing = getattr(sys, "_called_from_test", False)
        folder = plugins_dir or os.environ.get("MEMCHAT_PLUGINS_DIR") or None
        _manager = new_plugin_manager(folder, entry_points=not testing)
    return _manager


def new_plugin_manager(plugins_dir: str | Path | None = None, entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-ins, the installed plugins and those of ``plugins_dir``."""
    pm = pluggy.PluginManager("memchat")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if entry_points:
        try:  # pluggy skips an entry point whose name is registered already: the built-ins
            pm.load_setuptools_entrypoints("memchat")
        except Exception as e:  # an installed plugin that fails to import
            _report_load_error("an installed plugin", e)
    if plugins_dir is not None:
        load_plugins_dir(pm, Path(plugins_dir))
    return pm


def load_plugins_dir(pm: pluggy.PluginManager, folder: Path) -> None:
    """Register every ``.py`` file of ``folder`` (not ``_*.py``, not subfolders) as a plugin named
    after the file. A file that is already loaded as a built-in or installed plugin (the
    project's own plugins/ folder, say) is skipped."""
    if not folder.is_dir():
        raise MemchatError(f"--plugins-dir {folder}: not a folder")
    loaded = {Path(f).resolve() for f in (getattr(p, "__file__", None) for p in pm.get_plugins()) if f}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_") or path.resolve() in loaded:
            continue
        name = path.stem
        try:
            spec = importlib.util.spec_from_file_location(f"memchat_plugins_dir.{name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            pm.register(module, name=name)
        except Exception as e:
            _report_load_error(f"{name} ({path})", e)


def _report_load_error(name: str, error: Exception) -> None:
    log.error(f"plugin {name} not loaded: {type(error).__name__}: {error}")


@dataclass
class PluginFailure:
    plugin: str
    hook: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin} failed in {self.hook}: {self.error}"


def call_each(
    pm: pluggy.PluginManager, hook: str, failures: list[PluginFailure], kwargs: dict
) -> Iterator[tuple[str, object]]:
    """Each implementation of ``hook`` in pluggy's call order, as (plugin name, result); one that
    raises is logged, added to ``failures`` and skipped. Results of None are left out. ``kwargs``
    is read anew for every implementation, so a caller can chain rewrites by updating it."""
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.hookwrapper or getattr(impl, "wrapper", False):  # wrappers need pluggy's own call
            continue
        try:
            result = impl.function(**{k: kwargs[k] for k in impl.argnames})
        except Exception as e:
            failure = PluginFailure(impl.plugin_name, hook, f"{type(e).__name__}: {e}")
            failures.append(failure)
            log.error(str(failure))
            continue
        if result is not None:
            yield impl.plugin_name, result


def call_all(pm: pluggy.PluginManager, hook: str, kwargs: dict) -> list[object]:
    """Every implementation's result, for hooks called for their effect (commands, routes); a
    plugin that raises is logged and skipped."""
    return [result for _, result in call_each(pm, hook, [], kwargs)]


def failures_data(failures: list[PluginFailure]) -> dict:
    """What an event's data keeps of the plugins that failed while it was made."""
    return {"plugin_errors": [str(f) for f in failures]} if failures else {}


def describe(pm: pluggy.PluginManager) -> list[dict]:
    """What ``memchat plugins`` prints: every plugin, where it came from and the hooks it implements."""
    dist = {id(p): d for p, d in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        d = dist.get(id(plugin))
        source = (
            f"{d.project_name} {d.version}"
            if d
            else "built-in"
            if name in DEFAULT_PLUGINS
            else getattr(plugin, "__file__", "?")
        )
        out.append({"name": name, "source": source, "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or [])})
    return out
