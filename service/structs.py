"""google.protobuf.Struct <-> plain JSON values, without json_format's reflection cost.

Struct stores every number as a double; integral values come back as ints so a
JSON Schema keeps `"maxLength": 10` rather than `10.0` on its way to a provider.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2


def value_to_py(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) < 2**53 else n
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return struct_to_dict(v.struct_value)
    if kind == "list_value":
        return [value_to_py(x) for x in v.list_value.values]
    return None


def struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    return {k: value_to_py(v) for k, v in s.fields.items()}


def dict_to_struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s
