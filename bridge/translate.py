"""Pure translation between OpenAI-shaped JSON and the protobuf contract.

Shape only: JSON *types* are checked here (a wrong type is a 400 naming the
field), and a value the proto cannot carry is refused (a content part type
other than text and image_url, a tool_choice object of another type, an integer
past int32); anything it can carry is carried, never dropped, for
`service.validate` to judge: every rule about values lives there, shared with
gRPC clients, so both edges answer a bad value alike. An unknown role or
tool_choice mode travels as the enum's UNSPECIFIED value, which it refuses.
The exceptions are the tool limits that must hold before a value is converted
(how many tools, how deep their parameters nest: `service.tools.schema`, the
same rules and errors as the service's), so nothing recursive meets a value
nested past them and a standalone bridge never sends what protobuf cannot decode.
Unknown top-level fields are ignored, as OpenAI-compatible servers do.
"""

from __future__ import annotations

import json
from typing import Any

from ainative.chat.v1 import chat_pb2 as pb

from service.errors import GatewayError, invalid
from service.structs import dict_to_struct, struct_to_dict
from service.tools.schema import depth_exceeds, depth_problem, tool_count_problem
from service.validate import LONE_SURROGATE, has_lone_surrogate

ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_DEVELOPER,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}
TOOL_CHOICE_MODES = {
    "auto": pb.TOOL_CHOICE_MODE_AUTO,
    "none": pb.TOOL_CHOICE_MODE_NONE,
    "required": pb.TOOL_CHOICE_MODE_REQUIRED,
}
FINISH_REASONS = {
    pb.FINISH_REASON_UNSPECIFIED: "stop",
    pb.FINISH_REASON_STOP: "stop",
    pb.FINISH_REASON_LENGTH: "length",
    pb.FINISH_REASON_TOOL_CALLS: "tool_calls",
    pb.FINISH_REASON_CONTENT_FILTER: "content_filter",
}
_INT32_MAX = 2**31 - 1

# Fields of the request body that this module reads; anything else is ignored.
KNOWN_FIELDS = frozenset({
    "provider", "model", "messages", "temperature", "max_tokens", "max_completion_tokens", "top_p", "stop",
    "user", "metadata", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
    "max_iterations", "n", "drop_params", "top_k",
})
# OpenAI request parameters the gateway cannot carry to any provider yet: refused with 400
# unsupported_parameter, or dropped (and named in x-dropped-params) with drop_params / DROP_UNSUPPORTED_PARAMS,
# never ignored in silence. (A field OpenAI does not define is ignored, as OpenAI-compatible servers do.)
NOT_CARRIED = frozenset({
    "seed", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias",
    "response_format", "reasoning_effort", "service_tier", "prediction", "audio", "modalities",
    "store", "web_search_options", "functions", "function_call", "verbosity", "prompt_cache_key",
    "safety_identifier",
})


def _type_error(param: str, expected: str) -> GatewayError:
    return invalid(f"{param} must be {expected}", param)


def _str(obj: dict[str, Any], key: str, param: str, *, required: bool = False) -> str | None:
    """obj[key] if a string, None if absent or null; `required`: OpenAI's schema has no such message
    without it (a text part's text), so absent is a type error rather than an empty value."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _type_error(param, "a string")
        return None
    if not isinstance(value, str):
        raise _type_error(param, "a string")
    return value


def _number(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(key, "a number")
    return float(value)


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(key, "an integer")
    if not -_INT32_MAX <= value <= _INT32_MAX:
        raise invalid(f"{key} is out of range", key)
    return value


def _bool(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _type_error(key, "a boolean")
    return value


def _content(value: Any, param: str, msg: pb.ChatMessage) -> None:
    if value is None:
        return
    if isinstance(value, str):
        msg.content.add(text=value)
        return
    if not isinstance(value, list):
        raise _type_error(param, "a string or an array of content parts")
    for j, part in enumerate(value):
        p = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise _type_error(p, "an object")
        kind = part.get("type")
        if kind == "text":
            msg.content.add(text=_str(part, "text", f"{p}.text", required=True))
        elif kind == "image_url":
            image = part.get("image_url")
            if isinstance(image, str):  # tolerated shorthand
                image = {"url": image}
            if not isinstance(image, dict):
                raise _type_error(f"{p}.image_url", "an object with a url")
            url = _str(image, "url", f"{p}.image_url.url") or ""  # a missing url is refused by validate
            detail = _str(image, "detail", f"{p}.image_url.detail") or ""
            msg.content.add(image_url=pb.ImageUrl(url=url, detail=detail))
        else:  # input_audio, file, …: the proto has no part for them
            raise invalid(f"{p}.type must be 'text' or 'image_url'", f"{p}.type")


def _tool_calls(value: Any, param: str, msg: pb.ChatMessage) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _type_error(param, "an array")
    for k, call in enumerate(value):
        p = f"{param}[{k}]"
        if not isinstance(call, dict):
            raise _type_error(p, "an object")
        fn = call.get("function")
        if fn is None:
            fn = {}  # carried without a name, which validate refuses
        elif not isinstance(fn, dict):
            raise _type_error(f"{p}.function", "an object")
        msg.tool_calls.add(
            id=_str(call, "id", f"{p}.id") or "",
            type=_str(call, "type", f"{p}.type") or "function",  # any other type is refused by validate
            function=pb.FunctionCall(
                name=_str(fn, "name", f"{p}.function.name") or "",
                arguments=_str(fn, "arguments", f"{p}.function.arguments") or "",
            ),
        )


def parse_message(obj: Any, i: int) -> pb.ChatMessage:
    param = f"messages[{i}]"
    if not isinstance(obj, dict):
        raise _type_error(param, "an object")
    role_name = _str(obj, "role", f"{param}.role")
    # an unknown or missing role travels as ROLE_UNSPECIFIED: which roles exist is validate's rule
    msg = pb.ChatMessage(role=ROLES.get(role_name or "", pb.ROLE_UNSPECIFIED))
    _content(obj.get("content"), f"{param}.content", msg)
    # carried whatever the role: validate refuses tool_calls or a tool_call_id where they do not belong
    _tool_calls(obj.get("tool_calls"), f"{param}.tool_calls", msg)
    msg.tool_call_id = _str(obj, "tool_call_id", f"{param}.tool_call_id") or ""
    name = _str(obj, "name", f"{param}.name")
    if name:
        msg.name = name
    return msg


def _tool_schema_error(message: str, param: str) -> GatewayError:
    return GatewayError("invalid_tool_schema", message, param=param)


def parse_tool(obj: Any, i: int) -> pb.Tool:
    """A full definition, or a catalog tool by name: "zerodb_query_table" / {"type": "catalog", "name": ...}."""
    param = f"tools[{i}]"
    if isinstance(obj, str):
        return pb.Tool(type="catalog", catalog_name=obj)
    if not isinstance(obj, dict):
        raise _tool_schema_error(f"{param} must be an object or a catalog tool name", param)
    kind = obj.get("type", "function")
    if not isinstance(kind, str):
        raise _tool_schema_error(f"{param}.type must be a string", f"{param}.type")
    if kind == "catalog":
        name = obj.get("name")
        if name is not None and not isinstance(name, str):
            raise _tool_schema_error(f"{param}.name must be a string", f"{param}.name")
        return pb.Tool(type="catalog", catalog_name=name or "")  # an empty name is refused by validate
    fn = obj.get("function")
    if fn is None:  # carried without a function, which validate refuses (as any type but function)
        return pb.Tool(type=kind)
    if not isinstance(fn, dict):
        raise _tool_schema_error(f"{param}.function must be an object", f"{param}.function")
    name = fn.get("name")
    if not isinstance(name, str):
        raise _tool_schema_error(f"{param}.function.name must be a string", f"{param}.function.name")
    definition = pb.FunctionDefinition(name=name)
    description = fn.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise _tool_schema_error(f"{param}.function.description must be a string",
                                     f"{param}.function.description")
        definition.description = description
    parameters = fn.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise _tool_schema_error(f"Tool {name!r}: parameters must be a JSON Schema object",
                                     f"{param}.function.parameters")
        if depth_exceeds(parameters):  # before the recursive conversion (and protobuf's decoding limit)
            raise _tool_schema_error(depth_problem(name), f"{param}.function.parameters")
        definition.parameters.CopyFrom(dict_to_struct(parameters))
    strict = fn.get("strict")
    if strict is not None:
        if not isinstance(strict, bool):
            raise _tool_schema_error(f"{param}.function.strict must be a boolean", f"{param}.function.strict")
        definition.strict = strict
    return pb.Tool(type=kind, function=definition)


def _tool_choice(value: Any, choice: pb.ToolChoice) -> None:
    if isinstance(value, str):
        # an unknown mode travels as TOOL_CHOICE_MODE_UNSPECIFIED, which validate refuses
        choice.mode = TOOL_CHOICE_MODES.get(value, pb.TOOL_CHOICE_MODE_UNSPECIFIED)
        return
    # the proto carries a function name only: another object (allowed_tools, custom, …) cannot travel
    if isinstance(value, dict) and value.get("type") == "function":
        fn = value.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            choice.function_name = fn["name"]  # validate refuses a name that is not in tools
            return
    raise invalid(
        'tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}',
        "tool_choice",
    )


def parse_chat_request(body: Any) -> tuple[pb.CreateChatCompletionRequest, bool, bool]:
    """(request proto, stream?, include_usage?) from a decoded JSON body."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    # a missing model, or no messages, travels empty: validate says what is required
    req = pb.CreateChatCompletionRequest(model=_str(body, "model", "model") or "")
    provider = _str(body, "provider", "provider")
    if provider:
        req.provider = provider
    messages = body.get("messages")
    if messages is None:
        messages = []
    elif not isinstance(messages, list):
        raise invalid("messages must be a non-empty array", "messages")
    req.messages.extend(parse_message(m, i) for i, m in enumerate(messages))
    for key in ("temperature", "top_p"):
        number = _number(body, key)
        if number is not None:
            setattr(req, key, number)
    # both names travel as sent: value rules, and errors naming the field sent, live in service.validate
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
    user = _str(body, "user", "user")
    if user:
        req.user = user
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise _type_error("metadata", "an object of string values")
        req.metadata.update(metadata)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _tool_schema_error("tools must be an array", "tools")
        too_many = tool_count_problem(len(tools))
        if too_many:
            raise invalid(too_many, "tools")
        req.tools.extend(parse_tool(t, i) for i, t in enumerate(tools))
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], req.tool_choice)
    parallel = _bool(body, "parallel_tool_calls")
    if parallel is not None:
        req.parallel_tool_calls = parallel
    top_k = _int(body, "top_k")
    if top_k is not None:
        req.top_k = top_k
    drop = _bool(body, "drop_params")
    if drop is not None:
        req.drop_params = drop
    stream = bool(_bool(body, "stream"))
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _type_error("stream_options", "an object")
        include_usage = bool(_bool(options, "include_usage"))
    return req, stream, include_usage


def unknown_fields(body: dict[str, Any]) -> list[str]:
    return [k for k in body if k not in KNOWN_FIELDS]


def not_carried(body: dict[str, Any]) -> list[str]:
    """The OpenAI parameters set in `body` (not null) that the gateway cannot carry (NOT_CARRIED)."""
    return [k for k in body if k in NOT_CARRIED and body[k] is not None]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _lone_surrogate_at(value: Any, path: str | None) -> tuple[str | None, str] | None:
    """(param, what) of the first string in `value` holding a lone UTF-16 surrogate, or None."""
    if isinstance(value, str):
        return (path, path or "The request body") if has_lone_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if has_lone_surrogate(key):
                return path, f"{path} keys" if path else "Keys of the request body"
            found = _lone_surrogate_at(item, f"{path}.{key}" if path else key)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate_at(item, f"{path}[{i}]")
            if found:
                return found
    return None


def lone_surrogate_error(raw: bytes) -> GatewayError | None:
    """For a body orjson refused: when the only fault is a lone UTF-16 surrogate (a "\\ud800" escape without
    its pair, which orjson refuses and the standard library reads), the 400 naming the field that holds it,
    as for any other value no store can hold (service.validate); else None (not JSON at all)."""
    try:
        found = _lone_surrogate_at(json.loads(raw, parse_constant=_no_constant), None)
    except (ValueError, RecursionError):
        return None
    if found is None:
        return None
    param, what = found
    return invalid(f"{what} must not contain {LONE_SURROGATE}", param)


def completion_to_json(c: pb.ChatCompletion) -> dict[str, Any]:
    """The OpenAI chat.completion object for `c`, plus our fields (`provider`, `iterations`,
    `total_tokens_used`, and `finish_reason` at the top level)."""
    choices = []
    for choice in c.choices:
        m = choice.message
        # refusal and logprobs are required (nullable) by OpenAI's schema; the gateway produces neither
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(p.text for p in m.content) if m.content else None,
            "refusal": None,
        }
        if m.tool_calls:
            message["tool_calls"] = [
                {"id": t.id, "type": "function",
                 "function": {"name": t.function.name, "arguments": t.function.arguments}}
                for t in m.tool_calls
            ]
        choices.append({
            "index": choice.index,
            "message": message,
            "logprobs": None,
            "finish_reason": FINISH_REASONS.get(choice.finish_reason, "stop"),
        })
    u = c.usage
    return {
        "id": c.id,
        "object": "chat.completion",
        "created": c.created,
        "model": c.model,
        "provider": c.provider,
        "choices": choices,
        "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                  "total_tokens": u.total_tokens},
        "iterations": c.iterations,
        "total_tokens_used": c.total_tokens_used,
        "finish_reason": choices[0]["finish_reason"] if choices else None,
    }


def model_to_json(m: pb.Model) -> dict[str, Any]:
    """OpenAI's model object (id, object, created, owned_by) plus the catalog's own fields."""
    return {
        "id": m.id,
        "object": "model",
        "created": m.created,
        "owned_by": m.provider,
        "provider": m.provider,
        "provider_model_id": m.provider_model_id,
        "context_window": m.context_window,
        "max_output_tokens": m.max_output_tokens,
        "pricing": {"input_per_mtok": m.pricing.input_per_mtok,
                    "output_per_mtok": m.pricing.output_per_mtok},
    }


def models_to_json(resp: pb.ListModelsResponse) -> dict[str, Any]:
    return {"object": "list", "data": [model_to_json(m) for m in resp.models]}


def _delta_to_json(d: pb.Delta) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.role:
        out["role"] = d.role
    if d.HasField("content"):
        out["content"] = d.content
    if d.tool_calls:
        calls = []
        for t in d.tool_calls:
            call: dict[str, Any] = {"index": t.index}
            if t.id:
                call["id"] = t.id
                call["type"] = t.type or "function"
            fn: dict[str, Any] = {"arguments": t.function.arguments}
            if t.function.name:
                fn["name"] = t.function.name
            call["function"] = fn
            calls.append(call)
        out["tool_calls"] = calls
    return out


def chunk_to_json(c: pb.ChatCompletionChunk) -> dict[str, Any]:
    """The OpenAI chat.completion.chunk object for `c` (docs/wire-formats.md §3.4)."""
    out: dict[str, Any] = {
        "id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.model,
        "provider": c.provider,
        "choices": [
            {"index": ch.index, "delta": _delta_to_json(ch.delta),
             "finish_reason": FINISH_REASONS[ch.finish_reason] if ch.finish_reason else None}
            for ch in c.choices
        ],
    }
    if not c.choices:  # the include_usage chunk
        u = c.usage
        out["usage"] = {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                        "total_tokens": u.total_tokens}
        out["iterations"] = c.iterations
        out["total_tokens_used"] = c.total_tokens_used
    return out


def tools_to_json(resp: pb.ListToolsResponse) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"type": "function",
             "function": {"name": t.tool.function.name, "description": t.tool.function.description,
                          "parameters": struct_to_dict(t.tool.function.parameters)},
             "group": t.group}
            for t in resp.tools
        ],
    }


def _totals(t: pb.UsageTotals) -> dict[str, Any]:
    return {"requests": t.requests, "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
            "total_tokens": t.total_tokens, "cost_usd": t.cost_usd, "unpriced_requests": t.unpriced_requests}


def usage_to_json(r: pb.GetUsageResponse) -> dict[str, Any]:
    return {
        "object": "usage", "user": r.user, "from": r.from_date or None, "to": r.to_date or None,
        "totals": _totals(r.totals),
        "by_model": [{"model": m.model, "provider": m.provider, **_totals(m.totals)} for m in r.by_model],
        "by_day": [{"date": d.date, **_totals(d.totals)} for d in r.by_day],
    }
