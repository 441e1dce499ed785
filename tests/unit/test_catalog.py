"""The tool catalog is validated against the JSON Schema metaschema when it loads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from service.tools.catalog import CatalogError, ToolCatalog
from service.tools.schema import schema_problem

SOURCE = Path(__file__).resolve().parents[2] / "service" / "tools"


def test_shipped_catalog_is_valid_and_complete() -> None:
    catalog = ToolCatalog.load()
    assert len(catalog) == 30
    for group in ("zerodb", "agent"):
        for raw in json.loads((SOURCE / f"{group}.json").read_text()):
            jsonschema.Draft202012Validator.check_schema(raw["parameters"])
            assert raw["parameters"]["type"] == "object"


def write(directory: Path, zerodb: object, agent: object = ()) -> Path:
    (directory / "zerodb.json").write_text(json.dumps(zerodb))
    (directory / "agent.json").write_text(json.dumps(list(agent)))
    return directory


GOOD = {"name": "ok_tool", "description": "Does a thing.", "parameters": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(("zerodb", "message"), [
    ([{**GOOD, "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}}], "not a valid JSON Schema"),
    ([{**GOOD, "name": "bad name"}], "must match"),
    ([{**GOOD, "description": ""}], "needs a description"),
    ([{**GOOD, "extra": 1}], "exactly name, description and parameters"),
    ([GOOD, GOOD], "unique"),
    ({"not": "a list"}, "JSON array"),
])
def test_broken_catalogs_do_not_load(tmp_path: Path, zerodb: object, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        ToolCatalog.load(write(tmp_path, zerodb))


def test_schema_problem_names_the_tool_and_the_place() -> None:
    assert schema_problem("t", {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}) is None
    problem = schema_problem("t", {"type": "object", "properties": {"n": {"minimum": "one"}}})
    assert problem is not None and "'t'" in problem and "properties/n/minimum" in problem
