"""Reading YAML with line numbers, so every error about a project file names ``file:line``.

PyYAML's safe loader, with two changes: mappings and lists remember the line of each key and
item (``YamlMap.lines``, ``YamlList.lines``), and only ``true``/``false`` are booleans (YAML 1.2,
as Rasa reads its files): an example ``- yes`` or a slot value ``on`` stays a string.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from memchat.errors import MemchatError

if TYPE_CHECKING:
    import yaml


class YamlMap(dict):
    """A mapping that knows where it and each of its keys stand."""

    file: str = ""
    line: int = 0
    lines: dict

    def at(self, key=None) -> str:
        """``file:line`` of ``key`` (or of the mapping)."""
        return f"{self.file}:{self.lines.get(key, self.line) if key is not None else self.line}"


class YamlList(list):
    """A list that knows where it and each of its items stand."""

    file: str = ""
    line: int = 0
    lines: list

    def at(self, index: int | None = None) -> str:
        return f"{self.file}:{self.lines[index] if index is not None and index < len(self.lines) else self.line}"


@functools.cache
def _loader() -> type:
    """PyYAML's safe loader with memchat's two changes; PyYAML is imported here, by the first
    project file read, not by a server that only answers (20 ms of its start-up here)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # YAML 1.2 booleans only: drop the 1.1 resolver (yes/no/on/off) and add true/false back
    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)
    return Loader


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    out = YamlMap()
    out.file, out.line, out.lines = loader.name, node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise MemchatError(f"{loader.name}:{line}: a mapping key must be a plain value")
        if key in out:
            raise MemchatError(f"{loader.name}:{line}: key '{key}' given twice (first at line {out.lines[key]})")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> YamlList:
    out = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    out.file, out.line = loader.name, node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


def load_yaml(path: Path, shown: str | None = None) -> YamlMap:
    """The top-level mapping of a YAML file; an empty file is an empty mapping."""
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise MemchatError(f"{shown}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise MemchatError(f"{shown}: cannot read ({e.strerror})") from None
    import yaml

    loader = _loader()(text)
    loader.name = shown
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise MemchatError(f"{shown}{line}: not valid YAML ({e.problem or e.context})") from None
    except yaml.YAMLError as e:
        raise MemchatError(f"{shown}: not valid YAML ({e})") from None
    finally:
        loader.dispose()
    if data is None:
        data = YamlMap()
        data.file, data.line, data.lines = shown, 1, {}
    if not isinstance(data, YamlMap):
        raise MemchatError(f"{shown}:1: expected a mapping of keys (version, nlu, stories, ...) at the top")
    return data
