"""The house's layers: every module of memchat belongs to one, and imports only from its own
layer or those below it (at the top of the module or inside a function alike); no import circle
between modules; no module over 400 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "memchat"

# low to high; a module is in the layer of the longest prefix of its dotted name
LAYERS = [
    {
        "memchat",
        "memchat.version",
        "memchat.errors",
        "memchat.sparse",
        "memchat.dialogs",
        "memchat.hookspecs",
        "memchat.process",
    },
    {"memchat.plugins", "memchat.nn", "memchat.store"},
    {"memchat.babi", "memchat.project"},
    {"memchat.dialogue"},
    {"memchat.bot", "memchat.train", "memchat.replay", "memchat.story_tests"},
    {"memchat.channels"},
    {"memchat.cli", "memchat.__main__"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> int:
    best = max((p for layer in LAYERS for p in layer if name == p or name.startswith(p + ".")), key=len)
    return next(i for i, layer in enumerate(LAYERS) if best in layer)


def memchat_imports(path: Path) -> set[str]:
    """The memchat modules ``path`` imports, anywhere in it (``from memchat import x``: memchat.x
    when x is a module, else memchat)."""
    found, tree = set(), ast.parse(path.read_text())
    # a package's lazy re-exports (``memchat.Bot``) are its facade for users, not a dependency
    facade = {
        id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "__getattr__" for n in ast.walk(f)
    }
    for node in ast.walk(tree):
        if id(node) in facade:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "memchat"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "memchat":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / sub.replace(".", "/")
                ).is_dir()
                found.add(sub if is_module else node.module)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_higher_layer(name):
    mine = layer_of(name)
    higher = {m for m in memchat_imports(MODULES[name]) if layer_of(m) > mine}
    assert not higher, f"{name} (layer {mine}) imports {sorted(higher)} from a higher layer"


def test_every_module_is_in_a_layer_and_the_layers_are_the_packages():
    for name in MODULES:
        layer_of(name)  # raises for a module of no layer
    packages = {module_name(p.parent / "__init__.py") for p in PACKAGE.glob("*/__init__.py")}
    placed = {p for layer in LAYERS for p in layer}
    assert packages <= placed, packages - placed


def test_no_import_circle():
    graph = {n: {m for m in memchat_imports(p) if m in MODULES and m != n} for n, p in MODULES.items()}
    # a package's __init__ may name its own modules (re-exports); its modules never import it back
    state, path = {}, []

    def visit(n):
        state[n] = 1
        path.append(n)
        for m in graph[n]:
            if state.get(m) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(m) :] + [m]))
            if m not in state:
                visit(m)
        path.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_no_module_over_400_lines():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_layer_check_sees_an_import_that_runs_back_up(tmp_path, monkeypatch):
    """A module of the store that imports the dialogue is caught (the check can fail)."""
    bad = tmp_path / "memchat" / "store" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from memchat.dialogue.processor import DialogueManager\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "memchat", raising=False)
    assert layer_of("memchat.store.bad") < layer_of("memchat.dialogue.processor")
    assert memchat_imports(bad) == {"memchat.dialogue.processor"}
