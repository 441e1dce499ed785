"""Every rule about the values of a chat request, shared by the gRPC and REST edges.

The bridge only converts JSON to the protobuf request (checking JSON types, and
refusing what the proto cannot carry); the provider translators refuse nothing.
Every rule about values lives here, the ones that differ by provider included
(read from the provider's `Capabilities`), so a gRPC client gets exactly the same
400s (with the same `code` and `param`) as a REST client, and the same for every
provider where the rule is the same.
"""

from __future__ import annotations

import re

import orjson
from ainative.chat.v1 import chat_pb2 as pb

from service.errors import GatewayError, invalid
from service.models import ModelSpec
from service.offload import check_stop
from service.providers.capabilities import Capabilities
from service.structs import TooDeep, struct_to_dict_within
from service.tools.schema import (
    MAX_DEPTH,
    VERDICTS,
    canonical,
    depth_problem,
    invalid_schema,
    metaschema_problem,
    name_problem,
    shape_problem,
    size_problem,
    struct_digest,
    tool_count_problem,
)

R = pb.Role
ROLES = frozenset({R.ROLE_SYSTEM, R.ROLE_DEVELOPER, R.ROLE_USER, R.ROLE_ASSISTANT, R.ROLE_TOOL})
TOOL_CHOICE_MODES = frozenset({pb.TOOL_CHOICE_MODE_AUTO, pb.TOOL_CHOICE_MODE_NONE, pb.TOOL_CHOICE_MODE_REQUIRED})
PERMISSIVE = Capabilities()  # a provider that takes whatever OpenAI's API takes
MAX_ITERATIONS = 25
DEFAULT_MAX_ITERATIONS = 5
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a str holds a pair as one code point: any left is alone
NUL_CHARACTER = "a NUL character (\\u0000)"
LONE_SURROGATE = "a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)"


def has_lone_surrogate(value: str) -> bool:
    """Whether `value` holds a code point that no UTF-8 text (a store, a log line, a provider) can carry."""
    return _LONE_SURROGATE.search(value) is not None


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or logged as text, or None: PostgreSQL refuses a NUL character, and no
    UTF-8 store, log or provider can take a lone UTF-16 surrogate (a JSON "\\ud800" escape without its pair).
    Messages name the problem and never echo the value."""
    if "\x00" in value:
        return NUL_CHARACTER
    if has_lone_surrogate(value):
        return LONE_SURROGATE
    return None


def check_text(value: str, param: str | None, what: str | None = None) -> None:
    """Refuse `value` (400 invalid_request naming `param`) if it holds text no store can hold."""
    problem = text_problem(value)
    if problem:
        raise invalid(f"{what or param or 'The request'} must not contain {problem}", param)


def validate_text_fields(req: pb.CreateChatCompletionRequest) -> None:
    """A model must be named, and the request's fields that are stored or logged (model, user, metadata keys
    and values) must be text every store can hold; checked before anything else reads them."""
    if not req.model:
        raise invalid("model is required", "model")
    check_text(req.model, "model")
    check_text(req.user, "user")
    for key, value in req.metadata.items():
        check_text(key, "metadata", "metadata keys")
        check_text(value, f"metadata.{key}")


def _tool_schema_error(message: str, param: str) -> GatewayError:
    return GatewayError("invalid_tool_schema", message, param=param)


def check_tool_count(req: pb.CreateChatCompletionRequest) -> None:
    problem = tool_count_problem(len(req.tools))
    if problem:
        raise invalid(problem, "tools")


Pending = list[tuple[int, str, bytes, bytes]]  # index, name, canonical JSON, cache key of each tool to check


class ToolChecks:
    """What `validate_tools` left to do, in tool order: the metaschema checks of schemas with no cached
    verdict, then the error the cheap checks found after them (if any). `run` raises the first error."""

    __slots__ = ("pending", "then", "pending_bytes")

    def __init__(self, pending: Pending, then: GatewayError | None):
        self.pending = pending
        self.then = then
        self.pending_bytes = sum(len(canonical_json) for _, _, canonical_json, _ in pending)  # what `run` costs

    def run(self) -> None:
        for i, name, canonical_json, key in self.pending:
            check_stop()  # on the offload worker: stop when the caller went away
            problem = metaschema_problem(canonical_json, key)
            if problem:
                raise _tool_schema_error(invalid_schema(name, problem), f"tools[{i}].function.parameters")
        if self.then is not None:
            raise self.then


def validate_tools(req: pb.CreateChatCompletionRequest) -> ToolChecks | None:
    """Every cheap check of `req.tools` and `tool_choice`, in order (count, type, name, depth, size, cached
    verdicts, duplicates); the metaschema checks of schemas never seen before are left in the result (None:
    nothing is left)."""
    check_tool_count(req)
    pending: Pending = []
    try:
        _check_tools(req, pending)
    except GatewayError as err:
        if not pending:
            raise
        return ToolChecks(pending, err)  # raised after the checks of the tools before it
    return ToolChecks(pending, None) if pending else None


def _check_tools(req: pb.CreateChatCompletionRequest, pending: Pending) -> None:
    seen: set[str] = set()
    for i, tool in enumerate(req.tools):
        name = tool.function.name
        if tool.type == "catalog":  # the catalog expanded every tool it knows: this one names none
            raise _tool_schema_error(f"tools[{i}] must name a catalog tool", f"tools[{i}].name")
        if tool.type not in ("", "function"):
            raise _tool_schema_error(f"Tool {i} has type {tool.type!r}; only 'function' is supported",
                                     f"tools[{i}].type")
        if not tool.HasField("function"):
            raise _tool_schema_error(f"tools[{i}].function must be an object", f"tools[{i}].function")
        problem = name_problem(name)
        if problem:
            raise _tool_schema_error(problem, f"tools[{i}].function.name")
        param = f"tools[{i}].function.parameters"
        # a verdict is cached under the digest of the Struct's deterministic encoding (the same Struct, the
        # same bytes); one is stored only for parameters that passed every check before the metaschema's
        key = struct_digest(tool.function.parameters)
        found, problem = VERDICTS.get(key)
        if found:
            if problem:
                raise _tool_schema_error(invalid_schema(name, problem), param)
        else:
            try:
                parameters = struct_to_dict_within(tool.function.parameters, MAX_DEPTH)
            except TooDeep:
                raise _tool_schema_error(depth_problem(name), param) from None
            problem = shape_problem(name, parameters, depth_known=True)
            if problem:
                raise _tool_schema_error(problem, param)
            canonical_json = canonical(parameters)
            problem = size_problem(name, len(canonical_json))
            if problem:
                raise _tool_schema_error(problem, param)
            pending.append((i, name, canonical_json, key))
        if name in seen:
            raise _tool_schema_error(f"Tool name {name!r} is defined twice", f"tools[{i}].function.name")
        seen.add(name)
    which = req.tool_choice.WhichOneof("choice")
    if which is None:
        return
    if which == "mode" and req.tool_choice.mode not in TOOL_CHOICE_MODES:
        raise invalid('tool_choice must be "auto", "none", "required" or '
                      '{"type": "function", "function": {"name": ...}}', "tool_choice")
    if not req.tools:
        raise invalid("tool_choice requires tools", "tool_choice")
    if which == "function_name" and req.tool_choice.function_name not in seen:
        raise invalid(f"tool_choice names {req.tool_choice.function_name!r}, which is not in tools", "tool_choice")


def validate_messages(req: pb.CreateChatCompletionRequest, caps: Capabilities = PERMISSIVE,
                      label: str = "the provider") -> None:
    """The conversation's rules: roles, where images, tool calls and tool results may appear and what they
    must hold, every tool call answered; and what `caps` says the provider needs of the messages."""
    if not req.messages:
        raise invalid("messages must be a non-empty array", "messages")
    # ids of the latest assistant tool calls not yet answered, and where that assistant message is
    pending: dict[str, int] = {}
    for i, msg in enumerate(req.messages):
        if pending and msg.role != R.ROLE_TOOL:
            _unanswered(pending, f"before messages[{i}]")
        if msg.role not in ROLES:  # unset, or a number past the enum (the REST bridge sends an unknown name so)
            raise invalid(f"messages[{i}].role must be one of system, developer, user, assistant, tool",
                          f"messages[{i}].role")
        for j, part in enumerate(msg.content):
            if part.WhichOneof("part") == "image_url":
                _check_image(part.image_url.url, msg.role, f"messages[{i}].content[{j}]", caps, label)
        if msg.role == R.ROLE_USER and not caps.empty_user_content and not _has_content(msg):
            raise invalid(f"Message content must not be empty for {label}", f"messages[{i}].content")
        if msg.tool_calls and msg.role != R.ROLE_ASSISTANT:
            raise invalid("Only assistant messages may carry tool_calls", f"messages[{i}].tool_calls")
        if msg.tool_call_id and msg.role != R.ROLE_TOOL:
            raise invalid("Only tool messages may carry a tool_call_id", f"messages[{i}].tool_call_id")
        for k, call in enumerate(msg.tool_calls):
            param = f"messages[{i}].tool_calls[{k}]"
            if call.type not in ("", "function"):
                raise invalid(f"{param}.type must be 'function'", f"{param}.type")
            if not call.id:
                raise invalid("Tool calls need an id", f"{param}.id")
            if not call.function.name:
                raise invalid("Tool calls need a function name", f"{param}.function.name")
            if not _is_object_json(call.function.arguments):
                raise invalid("Tool call arguments must be a JSON object string", f"{param}.function.arguments")
            pending[call.id] = i
        if msg.role == R.ROLE_TOOL:
            if not msg.tool_call_id:
                raise invalid("Tool messages need a tool_call_id", f"messages[{i}].tool_call_id")
            if pending.pop(msg.tool_call_id, None) is None:
                raise invalid(
                    f"tool_call_id {msg.tool_call_id!r} answers no pending tool call of the preceding "
                    "assistant message",
                    f"messages[{i}].tool_call_id",
                )
    if pending:
        _unanswered(pending, "at the end of messages")
    if not caps.empty_conversation and not any(map(_makes_a_turn, req.messages)):
        raise invalid("At least one user message is required", "messages")


def _check_image(url: str, role: int, param: str, caps: Capabilities, label: str) -> None:
    if not caps.images:
        raise GatewayError("unsupported_parameter", f"{label} does not support images", param=param)
    if role != R.ROLE_USER:
        raise invalid("Only user messages may contain images", param)
    param += ".image_url.url"
    if url.startswith("https://"):
        return
    if not url.startswith("data:"):
        raise invalid("Image URLs must be https:// or data: URLs", param)
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not data or not media_type:
        raise invalid("Image data URLs must look like data:<mime>;base64,<data>", param)
    allowed = caps.image_media_types
    if allowed is not None and media_type not in allowed:
        raise invalid(f"Unsupported image type {media_type!r} for {label}: use {', '.join(sorted(allowed))}",
                      param)


def _has_content(msg: pb.ChatMessage) -> bool:
    """Whether `msg` has an image or a non-empty text (empty text parts are never sent, pitfall 1)."""
    return any(part.WhichOneof("part") == "image_url" or part.text for part in msg.content)


def _makes_a_turn(msg: pb.ChatMessage) -> bool:
    """Whether `msg` is a turn of the conversation for a provider that carries system messages apart and
    drops assistant messages with nothing to say (a final one is right-stripped, pitfall 5)."""
    if msg.role in (R.ROLE_USER, R.ROLE_TOOL):
        return True
    return msg.role == R.ROLE_ASSISTANT and bool(
        msg.tool_calls or any(part.text.strip() for part in msg.content if part.WhichOneof("part") == "text"))


def _is_object_json(arguments: str) -> bool:
    """OpenAI's rule for every provider: arguments are a JSON object as a string ("" stands for no
    arguments: a no-argument call, pitfall 8)."""
    if not arguments.strip():
        return True
    try:
        return isinstance(orjson.loads(arguments), dict)
    except orjson.JSONDecodeError:
        return False


def drop_unsupported(req: pb.CreateChatCompletionRequest, caps: Capabilities) -> tuple[str, ...]:
    """With drop_params: clear the parameters `caps` says the provider cannot honour (those
    `check_capabilities` would refuse as unsupported_parameter, content such as images and tools aside) and
    return their names, for x-dropped-params."""
    dropped: list[str] = []
    if not caps.stop_sequences and any(req.stop):
        req.ClearField("stop")
        dropped.append("stop")
    if not caps.parallel_tool_calls and req.HasField("parallel_tool_calls") and not req.parallel_tool_calls:
        req.ClearField("parallel_tool_calls")
        dropped.append("parallel_tool_calls")
    if not caps.top_k and req.HasField("top_k"):
        req.ClearField("top_k")
        dropped.append("top_k")
    return tuple(dropped)


def check_capabilities(req: pb.CreateChatCompletionRequest, caps: Capabilities, label: str) -> None:
    """Refuse (400 unsupported_parameter, naming the field) a parameter the provider cannot honour, rather
    than send the request without it; and a value it refuses (400 invalid_request)."""
    if not caps.stop_sequences and any(req.stop):
        raise GatewayError("unsupported_parameter", f"{label} does not support stop", param="stop")
    if not caps.parallel_tool_calls and req.HasField("parallel_tool_calls") and not req.parallel_tool_calls:
        # true is what the provider does anyway; only switching it off cannot be honoured
        raise GatewayError("unsupported_parameter", f"{label} does not support parallel_tool_calls: false",
                           param="parallel_tool_calls")
    if not caps.tools and req.tools:
        raise GatewayError("unsupported_parameter", f"{label} does not support tools", param="tools")
    if not caps.top_k and req.HasField("top_k"):
        raise GatewayError("unsupported_parameter", f"{label} does not support top_k", param="top_k")
    if not caps.email_user_ids:
        # the one id the provider is given: metadata.user_id when set, else user (as its translator sends it)
        from_metadata = bool(req.metadata.get("user_id"))
        user_id = req.metadata["user_id"] if from_metadata else req.user
        if "@" in user_id:
            param = "metadata.user_id" if from_metadata else "user"
            raise invalid(f"{param} must be an opaque id (no e-mail addresses) for {label}", param)


def _unanswered(pending: dict[str, int], where: str) -> None:
    """Every tool call needs its tool message right after its assistant message (OpenAI's rule and
    Anthropic's): refused here rather than after a provider round trip."""
    index = next(iter(pending.values()))
    raise invalid(
        f"Tool calls {', '.join(sorted(pending))} of messages[{index}] have no tool message answering them "
        f"({where})",
        f"messages[{index}].tool_calls",
    )


def max_tokens_param(req: pb.CreateChatCompletionRequest) -> str:
    """The name the caller gave the output cap, for errors about it: `max_completion_tokens` when sent,
    else `max_tokens` (also when neither was sent: the gateway's default is what max_tokens sets)."""
    return "max_completion_tokens" if req.HasField("max_completion_tokens") else "max_tokens"


def _max_tokens(req: pb.CreateChatCompletionRequest, spec: ModelSpec) -> int:
    """The output cap to send upstream: the caller's (under either name) or the model's default."""
    if req.HasField("max_tokens") and req.HasField("max_completion_tokens"):
        raise invalid("max_tokens and max_completion_tokens are the same setting: send only one "
                      "(max_completion_tokens is OpenAI's current name)", "max_tokens")
    name = max_tokens_param(req)
    if not req.HasField(name):
        return spec.default_max_tokens
    value: int = getattr(req, name)
    if value < 1:
        raise invalid(f"{name} must be a positive integer", name)
    limit = spec.output_limit
    if limit is not None and value > limit:
        raise invalid(f"{name} {value} exceeds the maximum output of {spec.id} ({limit})", name)
    return value


class Validation:
    """A request past the cheap checks; `finish` does the rest (the metaschema checks of tool schemas never
    seen before, which can take long: `pending_bytes` says how much) and returns the max_tokens to send."""

    __slots__ = ("req", "spec", "tools")

    def __init__(self, req: pb.CreateChatCompletionRequest, spec: ModelSpec, tools: ToolChecks | None):
        self.req, self.spec, self.tools = req, spec, tools

    @property
    def pending_bytes(self) -> int:
        return 0 if self.tools is None else self.tools.pending_bytes

    def finish(self) -> int:
        if self.tools is not None:
            self.tools.run()
        return _max_tokens(self.req, self.spec)


def validate_request(req: pb.CreateChatCompletionRequest, spec: ModelSpec, caps: Capabilities, label: str) -> int:
    """Check `req` against `spec` and its provider's `caps` (`label`: the provider's name in messages);
    return the max_tokens to send upstream."""
    return begin_validation(req, spec, caps, label).finish()


def begin_validation(req: pb.CreateChatCompletionRequest, spec: ModelSpec, caps: Capabilities,
                     label: str) -> Validation:
    """`validate_request` up to the checks that may take long, which the result's `finish` runs."""
    validate_messages(req, caps, label)
    if req.HasField("n") and req.n != 1:
        raise invalid("Only n=1 is supported", "n")
    if req.HasField("temperature"):
        if not 0.0 <= req.temperature <= 2.0:
            raise invalid("temperature must be between 0 and 2", "temperature")
        if req.temperature > caps.temperature_max:
            raise invalid(f"temperature must be between 0 and {caps.temperature_max:g} for {label}", "temperature")
    if req.HasField("top_k") and req.top_k < 1:
        raise invalid("top_k must be at least 1", "top_k")
    if req.HasField("top_p") and not 0.0 <= req.top_p <= 1.0:
        raise invalid("top_p must be between 0.0 and 1.0", "top_p")
    if req.HasField("max_iterations") and not 1 <= req.max_iterations <= MAX_ITERATIONS:
        raise invalid(f"max_iterations must be between 1 and {MAX_ITERATIONS}", "max_iterations")
    if len(req.stop) > 4:
        raise invalid("stop may hold at most 4 sequences", "stop")
    check_capabilities(req, caps, label)
    return Validation(req, spec, validate_tools(req))
