import re
from pathlib import Path

from memchat import hookspecs
from memchat.plugins import get_plugin_manager

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_every_hook_is_documented():
    documented = set(re.findall(r"^### `(\w+)\(", DOCS.read_text(), re.M))
    hooks = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "memchat_spec")}
    assert hooks and hooks == documented


def test_the_builtin_plugins_are_loaded_and_nothing_else_under_tests():
    pm = get_plugin_manager()
    assert [name for name, _ in pm.list_name_plugin()] == ["memchat_plugins.kb"]
    assert {h.name for h in pm.get_hookcallers(pm.get_plugin("memchat_plugins.kb"))} == {
        "register_commands", "load_knowledge_base", "execute_action"}
