"""Protobuf <-> the client's request body and typed results, for the gRPC transport.

The request is converted from the same JSON body the REST transport sends, with the REST bridge's rules
(``bridge/translate.py``): a value of the wrong JSON type is an ``InvalidRequestError`` naming the field,
so both transports fail alike. Rules about values are the gateway's, over both transports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from ainative_gateway._proto.ainative.chat.v1 import chat_pb2 as pb
from ainative_gateway.errors import InvalidRequestError, InvalidToolSchemaError
from ainative_gateway.results import (
    BudgetLimit,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    ConcurrencyLimit,
    DayUsage,
    Delta,
    Limits,
    Message,
    Model,
    ModelUsage,
    Pricing,
    RateLimit,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
    UsageTotals,
)

ROLES = {"system": pb.ROLE_SYSTEM, "developer": pb.ROLE_DEVELOPER, "user": pb.ROLE_USER,
         "assistant": pb.ROLE_ASSISTANT, "tool": pb.ROLE_TOOL}
ROLE_NAMES = {v: k for k, v in ROLES.items()}
TOOL_CHOICE_MODES = {"auto": pb.TOOL_CHOICE_MODE_AUTO, "none": pb.TOOL_CHOICE_MODE_NONE,
                     "required": pb.TOOL_CHOICE_MODE_REQUIRED}
FINISH_REASONS = {pb.FINISH_REASON_UNSPECIFIED: "stop", pb.FINISH_REASON_STOP: "stop",
                  pb.FINISH_REASON_LENGTH: "length", pb.FINISH_REASON_TOOL_CALLS: "tool_calls",
                  pb.FINISH_REASON_CONTENT_FILTER: "content_filter"}
# body fields with a place in CreateChatCompletionRequest
FIELDS = frozenset({"provider", "model", "messages", "temperature", "max_tokens", "max_completion_tokens", "top_p",
                    "stop", "user", "metadata", "tools", "tool_choice", "parallel_tool_calls", "max_iterations", "n"})
_INT32_MAX = 2**31 - 1


# --- request ---------------------------------------------------------------------------------------------

def _type_error(param: str, expected: str) -> InvalidRequestError:
    return InvalidRequestError("invalid_request", f"{param} must be {expected}", param=param)


def _str(obj: Mapping[str, Any], key: str, param: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(param, "a string")
    return value


def _number(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(key, "a number")
    return float(value)


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(key, "an integer")
    if not -_INT32_MAX <= value <= _INT32_MAX:
        raise InvalidRequestError("invalid_request", f"{key} is out of range", param=key)
    return value


def _message(obj: Any, i: int) -> pb.ChatMessage:
    param = f"messages[{i}]"
    if not isinstance(obj, Mapping):
        raise _type_error(param, "an object")
    role = ROLES.get(obj.get("role")) if isinstance(obj.get("role"), str) else None
    if role is None:
        raise InvalidRequestError(
            "invalid_request",
            f"{param}.role must be one of system, developer, user, assistant, tool (got {obj.get('role')!r})",
            param=f"{param}.role")
    msg = pb.ChatMessage(role=role)
    content = obj.get("content")
    if isinstance(content, str):
        msg.content.add(text=content)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            p = f"{param}.content[{j}]"
            if not isinstance(part, Mapping):
                raise _type_error(p, "an object")
            if part.get("type") == "text":
                msg.content.add(text=_str(part, "text", f"{p}.text"))
            elif part.get("type") == "image_url":
                image = part.get("image_url")
                image = {"url": image} if isinstance(image, str) else image
                if not isinstance(image, Mapping):
                    raise _type_error(f"{p}.image_url", "an object with a url")
                msg.content.add(image_url=pb.ImageUrl(url=_str(image, "url", f"{p}.image_url.url"),
                                                      detail=_str(image, "detail", f"{p}.image_url.detail")))
            else:
                raise InvalidRequestError("invalid_request", f"{p}.type must be 'text' or 'image_url'",
                                          param=f"{p}.type")
    elif content is not None:
        raise _type_error(f"{param}.content", "a string or an array of content parts")
    calls = obj.get("tool_calls")
    if role == pb.ROLE_ASSISTANT and calls is not None:
        if not isinstance(calls, list):
            raise _type_error(f"{param}.tool_calls", "an array")
        for k, call in enumerate(calls):
            p = f"{param}.tool_calls[{k}]"
            fn = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(fn, Mapping):
                raise _type_error(f"{p}.function", "an object")
            function = pb.FunctionCall(name=_str(fn, "name", f"{p}.function.name"),
                                       arguments=_str(fn, "arguments", f"{p}.function.arguments"))
            msg.tool_calls.add(id=_str(call, "id", f"{p}.id"), type="function", function=function)
    if role == pb.ROLE_TOOL:
        msg.tool_call_id = _str(obj, "tool_call_id", f"{param}.tool_call_id")
    name = _str(obj, "name", f"{param}.name")
    if name:
        msg.name = name
    return msg


def _tool(obj: Any, i: int) -> pb.Tool:
    param = f"tools[{i}]"
    if isinstance(obj, str):
        return pb.Tool(type="catalog", catalog_name=obj)
    if not isinstance(obj, Mapping):
        raise InvalidToolSchemaError("invalid_tool_schema", f"{param} must be an object or a catalog tool name",
                                     param=param)
    kind = obj.get("type", "function")
    if kind == "catalog":
        return pb.Tool(type="catalog", catalog_name=_str(obj, "name", f"{param}.name"))
    fn = obj.get("function")
    if kind != "function" or not isinstance(fn, Mapping):
        raise InvalidToolSchemaError("invalid_tool_schema", f"{param} must be a function definition",
                                     param=f"{param}.function")
    definition = pb.FunctionDefinition(name=_str(fn, "name", f"{param}.function.name"),
                                       description=_str(fn, "description", f"{param}.function.description"))
    parameters = fn.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            raise InvalidToolSchemaError(
                "invalid_tool_schema", f"Tool {definition.name!r}: parameters must be a JSON Schema object",
                param=f"{param}.function.parameters")
        definition.parameters.update(parameters)
    if fn.get("strict") is not None:
        definition.strict = bool(fn["strict"])
    return pb.Tool(type="function", function=definition)


def _tool_choice(value: Any, choice: pb.ToolChoice) -> None:
    if isinstance(value, str) and value in TOOL_CHOICE_MODES:
        choice.mode = TOOL_CHOICE_MODES[value]
        return
    fn = value.get("function") if isinstance(value, Mapping) and value.get("type") == "function" else None
    if isinstance(fn, Mapping) and isinstance(fn.get("name"), str) and fn["name"]:
        choice.function_name = fn["name"]
        return
    raise InvalidRequestError(
        "invalid_request",
        'tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}',
        param="tool_choice")


def chat_request(body: Mapping[str, Any]) -> pb.CreateChatCompletionRequest:
    """The CreateChatCompletionRequest for a REST body (``TypeError`` for fields gRPC cannot carry)."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise TypeError(f"not supported over gRPC: {', '.join(unknown)}")
    req = pb.CreateChatCompletionRequest(model=_str(body, "model", "model"),
                                         provider=_str(body, "provider", "provider"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("invalid_request", "messages must be a non-empty array", param="messages")
    req.messages.extend(_message(m, i) for i, m in enumerate(messages))
    for key in ("temperature", "top_p"):
        number = _number(body, key)
        if number is not None:
            setattr(req, key, number)
    for key in ("max_tokens", "max_completion_tokens", "max_iterations", "n"):
        integer = _int(body, key)
        if integer is not None:
            setattr(req, key, integer)
    stop = body.get("stop")
    if isinstance(stop, str):
        req.stop.append(stop)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        req.stop.extend(stop)
    elif stop is not None:
        raise _type_error("stop", "a string or an array of strings")
    req.user = _str(body, "user", "user")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(isinstance(v, str) for v in metadata.values()):
            raise _type_error("metadata", "an object of string values")
        req.metadata.update(metadata)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidToolSchemaError("invalid_tool_schema", "tools must be an array", param="tools")
        req.tools.extend(_tool(t, i) for i, t in enumerate(tools))
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], req.tool_choice)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        if not isinstance(parallel, bool):
            raise _type_error("parallel_tool_calls", "a boolean")
        req.parallel_tool_calls = parallel
    return req


# --- results ---------------------------------------------------------------------------------------------

def _value(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) < 2**53 else n  # a schema keeps "maxLength": 10, not 10.0
    if kind == "struct_value":
        return struct_to_dict(v.struct_value)
    if kind == "list_value":
        return [_value(x) for x in v.list_value.values]
    if kind in ("string_value", "bool_value"):
        return getattr(v, kind)
    return None


def struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    return {k: _value(v) for k, v in s.fields.items()}


def _usage(u: pb.Usage) -> Usage:
    return Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)


def completion(c: pb.ChatCompletion, request_id: str | None = None) -> ChatCompletion:
    choices = []
    for ch in c.choices:
        m = ch.message
        message = Message(
            role="assistant", content="".join(p.text for p in m.content) if m.content else None,
            tool_calls=[ToolCall(t.id, t.function.name, t.function.arguments, t.type or "function")
                        for t in m.tool_calls])
        choices.append(Choice(ch.index, message, FINISH_REASONS.get(ch.finish_reason, "stop")))
    return ChatCompletion(id=c.id, created=c.created, model=c.model, provider=c.provider, choices=choices,
                          usage=_usage(c.usage), iterations=c.iterations, total_tokens_used=c.total_tokens_used,
                          request_id=request_id)


def chunk(c: pb.ChatCompletionChunk) -> ChatCompletionChunk:
    choices = [
        ChunkChoice(ch.index, Delta(
            role=ch.delta.role or None,
            content=ch.delta.content if ch.delta.HasField("content") else None,
            tool_calls=[ToolCallDelta(t.index, t.id or None, (t.type or "function") if t.id else None,
                                      t.function.name or None, t.function.arguments)
                        for t in ch.delta.tool_calls]),
            FINISH_REASONS[ch.finish_reason] if ch.finish_reason else None)
        for ch in c.choices
    ]
    usage = None if c.choices else _usage(c.usage)  # the include_usage chunk has no choices
    return ChatCompletionChunk(id=c.id, created=c.created, model=c.model, provider=c.provider, choices=choices,
                               usage=usage, iterations=None if usage is None else c.iterations,
                               total_tokens_used=None if usage is None else c.total_tokens_used)


def models(resp: pb.ListModelsResponse) -> list[Model]:
    return [Model(m.id, m.provider, m.provider_model_id, m.context_window, m.max_output_tokens,
                  Pricing(m.pricing.input_per_mtok, m.pricing.output_per_mtok)) for m in resp.models]


def tools(resp: pb.ListToolsResponse) -> list[Tool]:
    return [Tool(name=t.tool.function.name, description=t.tool.function.description,
                 parameters=struct_to_dict(t.tool.function.parameters), group=t.group, type=t.tool.type or "function")
            for t in resp.tools]


def _totals(t: pb.UsageTotals) -> UsageTotals:
    return UsageTotals(t.requests, t.prompt_tokens, t.completion_tokens, t.total_tokens, t.cost_usd,
                       t.unpriced_requests)


def usage_report(r: pb.GetUsageResponse) -> UsageReport:
    return UsageReport(user=r.user, from_date=r.from_date or None, to_date=r.to_date or None, totals=_totals(r.totals),
                       by_model=[ModelUsage(m.model, m.provider, _totals(m.totals)) for m in r.by_model],
                       by_day=[DayUsage(d.date, _totals(d.totals)) for d in r.by_day])


def _rate(r: pb.RateLimitStatus) -> RateLimit:
    return RateLimit(r.limit, r.remaining if r.HasField("remaining") else None,
                     r.reset_s if r.HasField("reset_s") else None)


def limits(r: pb.GetLimitsResponse) -> Limits:
    """``GetLimitsResponse``: an unset group is a limit the caller does not have (``None``, as REST's null)."""
    return Limits(
        user=r.user or None,
        requests=_rate(r.requests) if r.HasField("requests") else None,
        tokens=_rate(r.tokens) if r.HasField("tokens") else None,
        budget_usd_per_day=(BudgetLimit(r.budget_usd_per_day.limit, r.budget_usd_per_day.spent,
                                        r.budget_usd_per_day.remaining)
                            if r.HasField("budget_usd_per_day") else None),
        max_concurrent=(ConcurrencyLimit(r.max_concurrent.limit, r.max_concurrent.in_flight
                                         if r.max_concurrent.HasField("in_flight") else None)
                        if r.HasField("max_concurrent") else None),
    )
