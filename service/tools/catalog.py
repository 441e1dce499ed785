"""The catalog of tool definitions clients may use by name (GET /v1/tools, ListTools).

Its single source of truth is the JSON files beside this module, one per group
(`zerodb.json`: the 15 ZeroDB tools of the user guide, kept verbatim so its examples
run unchanged; `agent.json`: the 15 agent framework tools). Every entry is checked at start-up against the JSON Schema
metaschema, so a broken catalog stops the process instead of reaching a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ainative.chat.v1 import chat_pb2 as pb

from service.errors import GatewayError, invalid
from service.structs import dict_to_struct
from service.tools.schema import VERDICTS, schema_problem, struct_digest

GROUPS = ("zerodb", "agent")
_HERE = Path(__file__).resolve().parent


class CatalogError(ValueError):
    """The catalog files are invalid."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    group: str
    tool: pb.Tool


def _entry(raw: Any, group: str, where: str) -> CatalogEntry:
    if not isinstance(raw, dict) or set(raw) != {"name", "description", "parameters"}:
        raise CatalogError(f"{where}: each tool must have exactly name, description and parameters")
    name, description, parameters = raw["name"], raw["description"], raw["parameters"]
    if not isinstance(description, str) or not description:
        raise CatalogError(f"{where}: {name!r} needs a description")
    problem = schema_problem(name, parameters)
    if problem:
        raise CatalogError(f"{where}: {problem}")
    tool = pb.Tool(type="function", function=pb.FunctionDefinition(
        name=name, description=description, parameters=dict_to_struct(parameters)))
    # checked: a request naming this tool finds its verdict cached (service.validate looks it up this way)
    VERDICTS.put(struct_digest(tool.function.parameters), None)
    return CatalogEntry(name, group, tool)


class ToolCatalog:
    def __init__(self, entries: list[CatalogEntry]):
        self._entries = entries
        self._by_name = {e.name: e for e in entries}
        if len(self._by_name) != len(entries):
            raise CatalogError("tool names in the catalog must be unique")

    @classmethod
    def load(cls, directory: Path = _HERE) -> ToolCatalog:
        entries = []
        for group in GROUPS:
            path = directory / f"{group}.json"
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CatalogError(f"{path}: {exc}") from None
            if not isinstance(raw, list):
                raise CatalogError(f"{path}: expected a JSON array of tools")
            entries += [_entry(item, group, f"{path.name}[{i}]") for i, item in enumerate(raw)]
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def select(self, group: str = "", names: list[str] | tuple[str, ...] = ()) -> list[CatalogEntry]:
        """Entries of `group` (all when empty) named in `names` (all when empty), in catalog order."""
        if group and group not in GROUPS:
            raise invalid(f"Unknown tool group {group!r}: use one of {', '.join(GROUPS)}", "group")
        unknown = [n for n in names if n not in self._by_name]
        if unknown:
            raise invalid(f"Unknown catalog tools: {', '.join(unknown)}", "names")
        wanted = set(names)
        return [e for e in self._entries if (not group or e.group == group) and (not wanted or e.name in wanted)]

    def expand(self, req: pb.CreateChatCompletionRequest) -> None:
        """Replace catalog references in `req.tools` by their definitions, in place."""
        if not any(t.catalog_name for t in req.tools):
            return
        unknown = [t.catalog_name for t in req.tools if t.catalog_name and t.catalog_name not in self._by_name]
        if unknown:
            raise GatewayError(
                "invalid_request",
                f"Unknown catalog tools: {', '.join(unknown)} (GET /v1/tools lists them)",
                param="tools",
            )
        for tool in req.tools:
            if tool.catalog_name:
                tool.CopyFrom(self._by_name[tool.catalog_name].tool)

    def to_proto(self, entries: list[CatalogEntry]) -> pb.ListToolsResponse:
        return pb.ListToolsResponse(tools=[pb.CatalogTool(tool=e.tool, group=e.group) for e in entries])
