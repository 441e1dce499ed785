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


class TooDeep(ValueError):
    """A Struct nested deeper than the limit it was converted under."""


def _value_within(v: struct_pb2.Value, room: int) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "struct_value":
        return struct_to_dict_within(v.struct_value, room)
    if kind == "list_value":
        if room < 1:
            raise TooDeep
        return [_value_within(x, room - 1) for x in v.list_value.values]
    return value_to_py(v)


def struct_to_dict_within(s: struct_pb2.Struct, levels: int) -> dict[str, Any]:
    """`struct_to_dict`, refusing (TooDeep) a Struct more than `levels` JSON levels deep: the Struct is
    level 1, every Struct or ListValue inside adds one. Recursion never goes past `levels` + 1 frames."""
    if levels < 1:
        raise TooDeep
    return {k: _value_within(v, levels - 1) for k, v in s.fields.items()}


def dict_to_struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s
