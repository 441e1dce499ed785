"""Chat request messages on the gRPC hop: encoded and decoded by us, not by grpc.aio.

A large request is encoded (`encode_chat_request`, by a standalone bridge) and decoded
(`decode_request`, by the service) a tool at a time: one protobuf call on a whole 9 MB message holds the
GIL for tens of milliseconds in C, which the event loop would wait out even with the work on another
thread; between tools it gets its turn.

protobuf's decoder refuses a message nested more than 100 levels deep (its recursion limit), and the
only value a chat request can nest without bound is a tool's `parameters` (a google.protobuf.Struct: each
JSON object level costs 3 message levels, Struct, map entry and Value; each array level 2, ListValue and
Value). So `parameters` 34 or more levels deep cannot be decoded at all, and a direct gRPC client gets the
answer a REST client gets: `deep_tool` reads the undecodable message's wire format by hand, without
recursion, to find the tool whose parameters nest past the limit and name it (422-equivalent
`invalid_tool_schema`, INVALID_ARGUMENT); any other undecodable message is `invalid_request`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from ainative.chat.v1 import chat_pb2 as pb
from google.protobuf.message import DecodeError, Message

from service.errors import GatewayError, invalid
from service.tools.schema import MAX_DEPTH, depth_problem

M = TypeVar("M", bound=Message)

_TOOLS = pb.CreateChatCompletionRequest.DESCRIPTOR.fields_by_name["tools"].number
_FUNCTION = pb.Tool.DESCRIPTOR.fields_by_name["function"].number
_NAME = pb.FunctionDefinition.DESCRIPTOR.fields_by_name["name"].number
_PARAMETERS = pb.FunctionDefinition.DESCRIPTOR.fields_by_name["parameters"].number
_REQUEST = pb.StreamChatCompletionRequest.DESCRIPTOR.fields_by_name["request"].number
# google.protobuf.Struct / Value / ListValue field numbers (fixed by struct.proto)
_STRUCT_FIELDS, _ENTRY_VALUE, _VALUE_STRUCT, _VALUE_LIST, _LIST_VALUES = 1, 2, 5, 6, 1
_INCLUDE_USAGE = pb.StreamChatCompletionRequest.DESCRIPTOR.fields_by_name["include_usage"].number
_LEN = 2  # wire type of length-delimited fields (strings, bytes, messages)
_STRUCT, _LIST, _VALUE = 0, 1, 2


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int, int, int]]:
    """(number, wire type, start, value start, end) of each field of the message in `buf`, in order;
    ValueError when `buf` is not a well-formed message (groups, deprecated since proto2, included)."""
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos)
        wire_type = key & 7
        if wire_type == 0:
            _, after = _varint(buf, pos)
            yield key >> 3, wire_type, start, pos, after
            pos = after
            continue
        if wire_type == 1:
            size = 8
        elif wire_type == 5:
            size = 4
        elif wire_type == _LEN:
            size, pos = _varint(buf, pos)
        else:
            raise ValueError("unsupported wire type")
        if pos + size > end:
            raise ValueError("truncated")
        yield key >> 3, wire_type, start, pos, pos + size
        pos += size


def _messages(buf: memoryview, number: int) -> Iterator[memoryview]:
    """The payloads of the length-delimited fields `number` of the message in `buf`, in order."""
    for field, wire_type, _, value_start, end in _fields(buf):
        if field == number and wire_type == _LEN:
            yield buf[value_start:end]


def _split(buf: memoryview, number: int) -> tuple[bytes, list[memoryview]]:
    """The message in `buf` without its length-delimited fields `number`, and those fields' payloads."""
    rest, taken = bytearray(), []
    for field, wire_type, start, value_start, end in _fields(buf):
        if field == number and wire_type == _LEN:
            taken.append(buf[value_start:end])
        else:
            rest += buf[start:end]
    return bytes(rest), taken


def struct_deeper_than(buf: memoryview, limit: int) -> bool:
    """Whether the encoded Struct in `buf` nests more than `limit` JSON levels (the Struct is level 1; each
    Struct or ListValue inside adds one); walked without recursion, never past level `limit` + 1."""
    stack: list[tuple[memoryview, int, int]] = [(buf, _STRUCT, 1)]
    while stack:
        node, kind, level = stack.pop()
        if level > limit:
            return True
        if kind == _STRUCT:
            for entry in _messages(node, _STRUCT_FIELDS):
                stack.extend((value, _VALUE, level) for value in _messages(entry, _ENTRY_VALUE))
        elif kind == _LIST:
            stack.extend((value, _VALUE, level) for value in _messages(node, _LIST_VALUES))
        else:
            stack.extend((s, _STRUCT, level + 1) for s in _messages(node, _VALUE_STRUCT))
            stack.extend((s, _LIST, level + 1) for s in _messages(node, _VALUE_LIST))
    return False


def deep_tool(raw: bytes, wrapped: bool) -> tuple[int, str] | None:
    """(index, name) of the first tool of an encoded CreateChatCompletionRequest (inside a
    StreamChatCompletionRequest when `wrapped`) whose parameters nest more than MAX_DEPTH levels, or None
    (none does, or the bytes are not a message at all)."""
    view = memoryview(raw)
    try:
        requests = _messages(view, _REQUEST) if wrapped else iter((view,))
        index = 0
        for request in requests:
            for tool in _messages(request, _TOOLS):
                name, deep = "", False
                for function in _messages(tool, _FUNCTION):
                    for value in _messages(function, _NAME):
                        name = bytes(value).decode("utf-8", "replace")
                    deep = deep or any(struct_deeper_than(p, MAX_DEPTH) for p in _messages(function, _PARAMETERS))
                if deep:
                    return index, name
                index += 1
    except ValueError:
        return None
    return None


def _merge_chat_request(target: pb.CreateChatCompletionRequest, buf: memoryview) -> None:
    rest, tools = _split(buf, _TOOLS)
    target.MergeFromString(rest)
    for tool in tools:
        target.tools.add().MergeFromString(tool)


def _decode_by_tool(cls: type[M], raw: bytes) -> M:
    """`cls.FromString(raw)`, a tool at a time (protobuf merges fields that come in several pieces, and
    appends repeated ones in order, so the result is the same message)."""
    message = cls()
    if isinstance(message, pb.StreamChatCompletionRequest):
        rest, requests = _split(memoryview(raw), _REQUEST)
        message.MergeFromString(rest)
        for request in requests:
            _merge_chat_request(message.request, request)
    else:
        assert isinstance(message, pb.CreateChatCompletionRequest)
        _merge_chat_request(message, memoryview(raw))
    return message


def encode_chat_request(req: pb.CreateChatCompletionRequest, include_usage: bool | None = None) -> bytes:
    """The wire bytes of `req`, or with `include_usage` of StreamChatCompletionRequest{request: req,
    include_usage}, encoded a tool at a time (the same message as SerializeToString's, fields in another
    order)."""
    head = pb.CreateChatCompletionRequest()
    for field, value in req.ListFields():
        if field.number == _TOOLS:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(head, field.name).update(value)
        elif field.is_repeated:
            getattr(head, field.name).extend(value)
        elif field.message_type is not None:
            getattr(head, field.name).CopyFrom(value)
        else:
            setattr(head, field.name, value)
    parts = [head.SerializeToString()]
    parts.extend(_len_field(_TOOLS, tool.SerializeToString()) for tool in req.tools)
    encoded = b"".join(parts)
    if include_usage is None:
        return encoded
    return _len_field(_REQUEST, encoded) + (_encode_varint(_INCLUDE_USAGE << 3) + b"\x01" if include_usage else b"")


def decode_request(cls: type[M], raw: bytes, by_tool: bool = False) -> M:
    """`cls.FromString(raw)` for a chat request (CreateChatCompletionRequest, or StreamChatCompletionRequest;
    `by_tool`: a tool at a time), with what a client can act on when protobuf cannot decode it."""
    try:
        return _decode_by_tool(cls, raw) if by_tool else cls.FromString(raw)
    except (DecodeError, ValueError):
        found = deep_tool(raw, wrapped=cls is pb.StreamChatCompletionRequest)
        if found is not None:
            index, name = found
            raise GatewayError("invalid_tool_schema", depth_problem(name),
                               param=f"tools[{index}].function.parameters") from None
        raise invalid(f"The request could not be decoded as a {cls.DESCRIPTOR.full_name} message") from None
