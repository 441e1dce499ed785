"""Tool definition checks with a real JSON Schema validator (jsonschema, draft 2020-12 metaschema).

Limits, the same on every edge:

- at most `MAX_TOOLS` (128) tools per request, catalog names included;
- a tool's `parameters` at most `MAX_DEPTH` (32) JSON levels deep. Levels are counted on the JSON value:
  the `parameters` object itself is level 1, and every object or array inside adds one level to what it
  holds (strings, numbers, booleans and null add none). So `{"type": "object"}` is 1 level deep, and
  `{"type": "object", "properties": {"a": {"type": "string"}}}` is 3;
- a tool's `parameters` at most `MAX_BYTES` (64 KiB) as canonical JSON (UTF-8, no whitespace, keys
  sorted: what `canonical` returns).

Depth is checked before anything recursive touches a value (`depth_exceeds` walks without recursion).

Checking a schema against the metaschema costs far more than a request's other work (~0.5 ms for a small
schema, ~0.1 s for one of 60 KB), so verdicts are cached by a digest of the schema's canonical JSON: an
agent loop that resends the same tools pays once. The cache is bounded in bytes (`VerdictCache`), and
holds digests and verdicts, never schemas.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from typing import Any

import jsonschema
import orjson
from google.protobuf import struct_pb2

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOLS = 128
MAX_DEPTH = 32
MAX_BYTES = 64 * 1024
_VALIDATOR = jsonschema.Draft202012Validator
# a verdict quotes part of the schema: bounded, for the client's sake and the cache's
_MAX_PROBLEM_CHARS = 500


def tool_count_problem(count: int) -> str | None:
    if count > MAX_TOOLS:
        return f"At most {MAX_TOOLS} tools are allowed per request (catalog names included); got {count}"
    return None


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` is nested more than `limit` levels deep (see the module docstring for how levels
    count), found without recursion and without looking past level `limit` + 1."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, level + 1))
    return False


def depth_problem(name: str) -> str:
    return (f"Tool {name!r}: parameters are nested more than {MAX_DEPTH} levels deep (the parameters object "
            "is level 1; each object or array inside adds a level)")


def size_problem(name: str, size: int) -> str | None:
    if size > MAX_BYTES:
        return (f"Tool {name!r}: parameters take {size} bytes as canonical JSON; at most {MAX_BYTES} "
                "(64 KiB) are allowed")
    return None


def canonical(parameters: dict[str, Any]) -> bytes:
    """The canonical JSON of a schema no deeper than MAX_DEPTH: UTF-8, compact, keys sorted."""
    return orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS)


def digest(canonical_json: bytes) -> bytes:
    """The verdict cache's key for a schema given as its canonical JSON."""
    return hashlib.blake2b(canonical_json, digest_size=16, person=b"json").digest()


def struct_digest(parameters: struct_pb2.Struct) -> bytes:
    """The verdict cache's key for a schema given as a google.protobuf.Struct: a digest of its deterministic
    encoding (map keys sorted), far cheaper than converting it to canonical JSON. An empty Struct (no
    parameters) is the schema {}."""
    return hashlib.blake2b(parameters.SerializeToString(deterministic=True), digest_size=16,
                           person=b"protobuf").digest()


class VerdictCache:
    """Metaschema verdicts by schema digest, least recently used first out, at most `max_bytes` held.

    An entry is charged its digest, its verdict's characters and a fixed overhead for the dict slot and
    objects (`ENTRY_OVERHEAD`), so the bound holds whatever the schemas' sizes. Thread-safe: checks run
    on the event loop and on the offload worker.
    """

    ENTRY_OVERHEAD = 200

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[bytes, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _cost(self, key: bytes, verdict: str | None) -> int:
        return len(key) + (len(verdict) if verdict else 0) + self.ENTRY_OVERHEAD

    def get(self, key: bytes) -> tuple[bool, str | None]:
        """(found, verdict)"""
        with self._lock:
            if key not in self._entries:
                return False, None
            self._entries.move_to_end(key)
            return True, self._entries[key]

    def put(self, key: bytes, verdict: str | None) -> None:
        cost = self._cost(key, verdict)
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, _MISSING)
            if old is not _MISSING:
                self.bytes -= self._cost(key, old)  # type: ignore[arg-type]
            self._entries[key] = verdict
            self.bytes += cost
            while self.bytes > self.max_bytes:
                evicted, evicted_verdict = self._entries.popitem(last=False)
                self.bytes -= self._cost(evicted, evicted_verdict)


_MISSING = object()
# 4 MiB: ~17,000 verdicts of valid schemas
VERDICTS = VerdictCache(4 * 1024 * 1024)


def _check(canonical_json: bytes) -> str | None:
    try:
        _VALIDATOR.check_schema(orjson.loads(canonical_json))
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        problem = f"{exc.message}{f' (at {where})' if where else ''}"
        return problem if len(problem) <= _MAX_PROBLEM_CHARS else problem[:_MAX_PROBLEM_CHARS - 1] + "…"
    return None


def metaschema_problem(canonical_json: bytes, key: bytes | None = None) -> str | None:
    """Why the schema is not valid against the metaschema, or None; cached by digest."""
    key = key or digest(canonical_json)
    found, problem = VERDICTS.get(key)
    if not found:
        problem = _check(canonical_json)
        VERDICTS.put(key, problem)
    return problem


def name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        return f"Tool name {name!r} must match ^[a-zA-Z0-9_-]{{1,64}}$"
    return None


def shape_problem(name: str, parameters: Any, depth_known: bool = False) -> str | None:
    """Problems found without recursion: not an object, not of type object, too deep (unless the caller
    knows the depth is within the limit)."""
    if not isinstance(parameters, dict):
        return f"Tool {name!r}: parameters must be a JSON Schema object"
    if parameters.get("type", "object") != "object":
        return f"Tool {name!r}: parameters must be a JSON Schema of type object"
    if not depth_known and depth_exceeds(parameters):
        return depth_problem(name)
    return None


def invalid_schema(name: str, problem: str) -> str:
    return f"Tool {name!r}: parameters are not a valid JSON Schema: {problem}"


def schema_problem(name: Any, parameters: Any) -> str | None:
    """Why `name`/`parameters` cannot be a tool definition, or None when they can."""
    problem = name_problem(name) or shape_problem(name, parameters)
    if problem:
        return problem
    canonical_json = canonical(parameters)
    problem = size_problem(name, len(canonical_json))
    if problem:
        return problem
    problem = metaschema_problem(canonical_json)
    return invalid_schema(name, problem) if problem else None
