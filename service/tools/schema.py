"""Tool definition checks with a real JSON Schema validator (jsonschema, draft 2020-12 metaschema).

Checking a schema against the metaschema costs far more than a request's other
work, so verdicts are cached by the schema's canonical JSON: an agent loop that
resends the same tools pays once.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
import orjson

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_VALIDATOR = jsonschema.Draft202012Validator


@functools.lru_cache(maxsize=4096)
def _metaschema_problem(canonical: bytes) -> str | None:
    try:
        _VALIDATOR.check_schema(orjson.loads(canonical))
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{exc.message}{f' (at {where})' if where else ''}"
    return None


def schema_problem(name: Any, parameters: Any) -> str | None:
    """Why `name`/`parameters` cannot be a tool definition, or None when they can."""
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        return f"Tool name {name!r} must match ^[a-zA-Z0-9_-]{{1,64}}$"
    if not isinstance(parameters, dict):
        return f"Tool {name!r}: parameters must be a JSON Schema object"
    if parameters.get("type", "object") != "object":
        return f"Tool {name!r}: parameters must be a JSON Schema of type object"
    problem = _metaschema_problem(orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS))
    return f"Tool {name!r}: parameters are not a valid JSON Schema: {problem}" if problem else None
