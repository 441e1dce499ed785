"""The request both transports send, built once as the REST JSON body (the gRPC codec converts it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ainative_gateway.results import Message, Tool

MessageLike = Message | Mapping[str, Any]
Messages = str | Sequence[MessageLike]
ToolLike = str | Tool | Mapping[str, Any]

_STREAM_FIELDS = frozenset({"stream", "stream_options"})


def chat_body(messages: Messages, *, model: str | None, provider: str | None, tools: Sequence[ToolLike] | None,
              tool_choice: Any, temperature: float | None, max_tokens: int | None, max_iterations: int | None,
              extra: Mapping[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/chat/completions`` body; ``None`` arguments are left out."""
    if not model:
        raise TypeError("model is required: pass model=... or set it on the client")
    reserved = _STREAM_FIELDS & set(extra)
    if reserved:
        raise TypeError(f"{', '.join(sorted(reserved))} cannot be passed here: use stream(..., include_usage=...)")
    body: dict[str, Any] = {"model": model, "messages": normalize_messages(messages)}
    if provider is not None:
        body["provider"] = provider
    if tools is not None:
        body["tools"] = [normalize_tool(t) for t in tools]
    for key, value in (("tool_choice", tool_choice), ("temperature", temperature), ("max_tokens", max_tokens),
                       ("max_iterations", max_iterations)):
        if value is not None:
            body[key] = value
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def normalize_messages(messages: Messages) -> list[Any]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, (Message, Mapping)):
        messages = [messages]
    return [m.to_dict() if isinstance(m, Message) else dict(m) if isinstance(m, Mapping) else m for m in messages]


def normalize_tool(tool: ToolLike) -> Any:
    """A catalog name stays a name; a ``Tool`` becomes its definition; a dict is sent as is."""
    if isinstance(tool, Tool):
        return tool.to_dict()
    if isinstance(tool, Mapping):
        return dict(tool)
    return tool


def date_param(value: str | dt.date | None) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)
