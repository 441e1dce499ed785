"""The tool catalog is validated against the JSON Schema metaschema when it loads; the tool limits and the
verdict cache."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from service.tools.catalog import CatalogError, ToolCatalog
from service.tools.schema import (
    MAX_BYTES,
    MAX_DEPTH,
    VERDICTS,
    VerdictCache,
    canonical,
    depth_exceeds,
    digest,
    schema_problem,
)

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


def nested(levels: int, array: bool = False) -> dict:
    """A schema exactly `levels` JSON levels deep: {"type": "object", "x": {"x": ... {}}} (or [[...]])."""
    inner: object = [] if array else {}
    for _ in range(levels - 2):
        inner = [inner] if array else {"x": inner}
    return {"type": "object", "x": inner} if levels > 1 else {"type": "object"}


def test_depth_counts_json_levels_from_the_parameters_object() -> None:
    assert not depth_exceeds({"type": "object"}, 1)  # the parameters object is level 1
    assert depth_exceeds({"type": "object", "properties": {}}, 1)
    assert not depth_exceeds({"type": "object", "properties": {"a": {"type": "string"}}}, 3)
    assert depth_exceeds({"type": "object", "properties": {"a": {"type": "string"}}}, 2)
    assert not depth_exceeds({"type": "object", "enum": [[1, 2], "x"]}, 3)  # scalars add no level
    assert depth_exceeds({"type": "object", "enum": [[1, [2]], "x"]}, 3)
    for array in (False, True):
        assert not depth_exceeds(nested(32, array), MAX_DEPTH)
        assert depth_exceeds(nested(33, array), MAX_DEPTH)
        assert depth_exceeds(nested(100_000, array), MAX_DEPTH)  # no recursion: no RecursionError


def test_schema_problem_refuses_deep_and_large_parameters_naming_the_tool() -> None:
    assert schema_problem("t", nested(32)) is None
    problem = schema_problem("deep_tool", nested(33))
    assert problem is not None and "'deep_tool'" in problem and "32 levels" in problem
    assert "'abyss'" in (schema_problem("abyss", nested(5000, array=True)) or "")
    base = len(canonical({"type": "object", "description": ""}))
    assert schema_problem("t", {"type": "object", "description": "x" * (MAX_BYTES - base)}) is None
    problem = schema_problem("huge_tool", {"type": "object", "description": "x" * (MAX_BYTES - base + 1)})
    assert problem is not None and "'huge_tool'" in problem and "65537 bytes" in problem


def test_verdict_cache_holds_at_most_its_bytes_whatever_the_schemas_weigh() -> None:
    cache = VerdictCache(max_bytes=10_000)
    big = canonical({"type": "object", "description": "x" * 60_000})  # a 60 KB schema costs its digest only
    for i in range(1000):
        cache.put(digest(big + str(i).encode()), None if i % 2 else "a problem " * 10)
        assert cache.bytes <= 10_000
    assert 0 < len(cache) < 100
    assert cache.get(digest(big + b"999")) == (True, None)  # the latest are kept
    assert cache.get(digest(big + b"0")) == (False, None)  # the oldest went first
    key = digest(big + b"998")
    assert cache.get(key) == (True, "a problem " * 10)
    cache.put(key, None)  # replacing an entry recounts it
    assert cache.get(key) == (True, None) and cache.bytes <= 10_000
    cache.put(digest(b"x"), "p" * 20_000)  # an entry larger than the whole cache is not kept
    assert cache.get(digest(b"x")) == (False, None) and cache.bytes <= 10_000


def test_verdicts_are_cached_by_digest_and_problems_kept_short() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": "one"}}, "$comment": "u1"}
    key = digest(canonical(schema))
    assert VERDICTS.get(key) == (False, None)
    first = schema_problem("t", schema)
    assert first is not None and VERDICTS.get(key)[0]
    assert schema_problem("t", schema) == first
    problem = schema_problem("t", {"type": "object", "properties": "y" * 5000})  # the message quotes the value
    assert problem is not None and "yyy" in problem and len(problem) < 700
