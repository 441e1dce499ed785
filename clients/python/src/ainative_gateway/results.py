"""Typed results, the same from both transports.

Every class has ``from_dict`` (the REST JSON shape) and ``to_dict`` (back to that shape); the gRPC transport
builds them from protobuf in ``_grpc_codec``. ``StreamAssembler`` folds streamed chunks into the
``ChatCompletion`` the non-streaming call would have answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BudgetLimit",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "ConcurrencyLimit",
    "DayUsage",
    "Delta",
    "Limits",
    "Message",
    "Model",
    "ModelUsage",
    "Pricing",
    "RateLimit",
    "StreamAssembler",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "UsageReport",
    "UsageTotals",
]


@dataclass
class ToolCall:
    """A tool call the model asked for; ``arguments`` is the model's JSON string, exactly as produced."""

    id: str
    name: str
    arguments: str = ""
    type: str = "function"

    def parsed_arguments(self) -> Any:
        """``arguments`` decoded (``{}`` when empty); raises ``ValueError`` when the model wrote invalid JSON."""
        return json.loads(self.arguments) if self.arguments.strip() else {}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToolCall:
        fn = d.get("function") or {}
        return cls(id=d.get("id") or "", name=fn.get("name") or "", arguments=fn.get("arguments") or "",
                   type=d.get("type") or "function")


@dataclass
class Message:
    """One message of a conversation; assistant answers may carry ``tool_calls``."""

    role: str
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def tool_result(cls, tool_call_id: str, content: Any) -> Message:
        """The answer to one tool call, to send back with the conversation.

        ``content`` is the tool's result: a ``str`` is sent as is; any other JSON value (a dict, a list, a
        number, ``True``/``False``, ``None``) is serialised with ``json.dumps(content, ensure_ascii=False)``,
        as the gateway (like the providers) takes a tool result as a string. A value ``json.dumps`` cannot
        serialise raises ``TypeError``: convert it first (e.g. ``json.dumps(result, default=str)``).
        """
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return cls("tool", text, tool_call_id=tool_call_id)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI message shape, ready to be sent back in ``messages``."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        content = d.get("content")
        if isinstance(content, list):  # content parts: keep the text
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return cls(role=d.get("role") or "assistant", content=content,
                   tool_calls=[ToolCall.from_dict(c) for c in d.get("tool_calls") or ()],
                   tool_call_id=d.get("tool_call_id"), name=d.get("name"))


@dataclass
class Choice:
    index: int
    message: Message
    finish_reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "message": self.message.to_dict(), "finish_reason": self.finish_reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Choice:
        return cls(index=d.get("index") or 0, message=Message.from_dict(d.get("message") or {}),
                   finish_reason=d.get("finish_reason") or "stop")


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Usage:
        d = d or {}
        return cls(d.get("prompt_tokens") or 0, d.get("completion_tokens") or 0, d.get("total_tokens") or 0)


@dataclass
class ChatCompletion:
    """A model's answer. ``usage`` is this model call's; ``total_tokens_used`` sums all ``iterations``."""

    id: str
    created: int
    model: str
    provider: str
    choices: list[Choice]
    usage: Usage
    iterations: int = 1
    total_tokens_used: int = 0
    #: the call's x-request-id (not part of the answer's value: ignored by ==)
    request_id: str | None = field(default=None, compare=False, repr=False)

    @property
    def message(self) -> Message:
        """The first choice's message (the gateway answers one choice)."""
        return self.choices[0].message

    @property
    def content(self) -> str | None:
        return self.choices[0].message.content if self.choices else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.choices[0].message.tool_calls if self.choices else []

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    def to_dict(self) -> dict[str, Any]:
        """The REST ``chat.completion`` object."""
        return {
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "provider": self.provider, "choices": [c.to_dict() for c in self.choices], "usage": self.usage.to_dict(),
            "iterations": self.iterations, "total_tokens_used": self.total_tokens_used,
            "finish_reason": self.finish_reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], request_id: str | None = None) -> ChatCompletion:
        return cls(id=d.get("id") or "", created=d.get("created") or 0, model=d.get("model") or "",
                   provider=d.get("provider") or "", choices=[Choice.from_dict(c) for c in d.get("choices") or ()],
                   usage=Usage.from_dict(d.get("usage")), iterations=d.get("iterations") or 0,
                   total_tokens_used=d.get("total_tokens_used") or 0, request_id=request_id)


@dataclass
class ToolCallDelta:
    """A fragment of a tool call: ``id``, ``type`` and ``name`` only on a call's first fragment."""

    index: int
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index}
        if self.id:
            out["id"] = self.id
            out["type"] = self.type or "function"
        fn: dict[str, Any] = {"arguments": self.arguments}
        if self.name:
            fn["name"] = self.name
        out["function"] = fn
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToolCallDelta:
        fn = d.get("function") or {}
        return cls(index=d.get("index") or 0, id=d.get("id") or None, type=d.get("type") or None,
                   name=fn.get("name") or None, arguments=fn.get("arguments") or "")


@dataclass
class Delta:
    """What a chunk adds to the message: ``role`` on the first chunk, then text or tool-call fragments."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.role:
            out["role"] = self.role
        if self.content is not None:
            out["content"] = self.content
        if self.tool_calls:
            out["tool_calls"] = [t.to_dict() for t in self.tool_calls]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delta:
        return cls(role=d.get("role") or None, content=d.get("content"),
                   tool_calls=[ToolCallDelta.from_dict(t) for t in d.get("tool_calls") or ()])


@dataclass
class ChunkChoice:
    index: int
    delta: Delta
    finish_reason: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChunkChoice:
        return cls(index=d.get("index") or 0, delta=Delta.from_dict(d.get("delta") or {}),
                   finish_reason=d.get("finish_reason"))


@dataclass
class ChatCompletionChunk:
    """One streamed piece. The last chunk of a stream asked ``include_usage`` has no choices and carries
    ``usage``, ``iterations`` and ``total_tokens_used`` (``None`` on every other chunk)."""

    id: str
    created: int
    model: str
    provider: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    iterations: int | None = None
    total_tokens_used: int | None = None

    @property
    def text(self) -> str:
        """The text this chunk adds (``""`` when none)."""
        return (self.choices[0].delta.content or "") if self.choices else ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "provider": self.provider,
            "choices": [{"index": c.index, "delta": c.delta.to_dict(), "finish_reason": c.finish_reason}
                        for c in self.choices],
        }
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
            out["iterations"] = self.iterations
            out["total_tokens_used"] = self.total_tokens_used
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChatCompletionChunk:
        usage = d.get("usage")
        return cls(id=d.get("id") or "", created=d.get("created") or 0, model=d.get("model") or "",
                   provider=d.get("provider") or "", choices=[ChunkChoice.from_dict(c) for c in d.get("choices") or ()],
                   usage=Usage.from_dict(usage) if usage is not None else None,
                   iterations=d.get("iterations"), total_tokens_used=d.get("total_tokens_used"))


class StreamAssembler:
    """Folds chunks into the ``ChatCompletion`` they stream.

    ``usage``, ``iterations`` and ``total_tokens_used`` are known only when the stream was asked for them
    (``include_usage=True``); otherwise they stay zero.
    """

    def __init__(self) -> None:
        self._first: ChatCompletionChunk | None = None
        self._text: dict[int, list[str]] = {}
        self._calls: dict[int, dict[int, ToolCall]] = {}
        self._finish: dict[int, str] = {}
        self._usage: ChatCompletionChunk | None = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        self._first = self._first or chunk
        if chunk.usage is not None:
            self._usage = chunk
        for choice in chunk.choices:
            text = self._text.setdefault(choice.index, [])
            calls = self._calls.setdefault(choice.index, {})
            if choice.delta.content:
                text.append(choice.delta.content)
            for frag in choice.delta.tool_calls:
                call = calls.get(frag.index)
                if call is None:
                    call = calls[frag.index] = ToolCall(id=frag.id or "", name=frag.name or "",
                                                        type=frag.type or "function")
                call.id = call.id or frag.id or ""
                call.name = call.name or frag.name or ""
                call.arguments += frag.arguments
            if choice.finish_reason:
                self._finish[choice.index] = choice.finish_reason

    def add_all(self, chunks: Iterable[ChatCompletionChunk]) -> StreamAssembler:
        for chunk in chunks:
            self.add(chunk)
        return self

    def completion(self) -> ChatCompletion:
        first = self._first
        if first is None:
            raise ValueError("no chunk was added")
        choices = []
        for index in sorted(self._text):
            calls = [self._calls[index][k] for k in sorted(self._calls[index])]
            message = Message("assistant", "".join(self._text[index]) or None, tool_calls=calls)
            choices.append(Choice(index, message, self._finish.get(index, "stop")))
        last = self._usage
        return ChatCompletion(
            id=first.id, created=first.created, model=first.model, provider=first.provider, choices=choices,
            usage=last.usage if last and last.usage else Usage(),
            iterations=(last.iterations or 0) if last else 0,
            total_tokens_used=(last.total_tokens_used or 0) if last else 0,
        )


@dataclass
class Pricing:
    """USD per million tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0


@dataclass
class Model:
    id: str
    provider: str
    provider_model_id: str
    context_window: int
    max_output_tokens: int
    pricing: Pricing

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "provider": self.provider,
                "provider_model_id": self.provider_model_id, "context_window": self.context_window,
                "max_output_tokens": self.max_output_tokens,
                "pricing": {"input_per_mtok": self.pricing.input_per_mtok,
                            "output_per_mtok": self.pricing.output_per_mtok}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        p = d.get("pricing") or {}
        return cls(id=d.get("id") or "", provider=d.get("provider") or "",
                   provider_model_id=d.get("provider_model_id") or "", context_window=d.get("context_window") or 0,
                   max_output_tokens=d.get("max_output_tokens") or 0,
                   pricing=Pricing(float(p.get("input_per_mtok") or 0), float(p.get("output_per_mtok") or 0)))


@dataclass
class Tool:
    """A catalog tool (``group`` ``zerodb`` or ``agent``). Pass it, or its name, in ``chat(tools=...)``."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    type: str = "function"

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry (without ``group``)."""
        return {"type": self.type,
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tool:
        fn = d.get("function") or {}
        return cls(name=fn.get("name") or "", description=fn.get("description") or "",
                   parameters=fn.get("parameters") or {}, group=d.get("group") or "", type=d.get("type") or "function")


@dataclass
class UsageTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0  # the priced requests only
    unpriced_requests: int = 0  # requests whose model has no known price (not in cost_usd)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "total_tokens": self.total_tokens,
                "cost_usd": self.cost_usd, "unpriced_requests": self.unpriced_requests}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> UsageTotals:
        d = d or {}
        return cls(d.get("requests") or 0, d.get("prompt_tokens") or 0, d.get("completion_tokens") or 0,
                   d.get("total_tokens") or 0, float(d.get("cost_usd") or 0), d.get("unpriced_requests") or 0)


@dataclass
class ModelUsage:
    model: str
    provider: str
    totals: UsageTotals


@dataclass
class DayUsage:
    date: str
    totals: UsageTotals


@dataclass
class UsageReport:
    """The verified caller's own usage; ``from_date``/``to_date`` echo the query (``None``: unbounded)."""

    user: str
    from_date: str | None
    to_date: str | None
    totals: UsageTotals
    by_model: list[ModelUsage] = field(default_factory=list)
    by_day: list[DayUsage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The REST ``usage`` object."""
        return {
            "object": "usage", "user": self.user, "from": self.from_date, "to": self.to_date,
            "totals": self.totals.to_dict(),
            "by_model": [{"model": m.model, "provider": m.provider, **m.totals.to_dict()} for m in self.by_model],
            "by_day": [{"date": d.date, **d.totals.to_dict()} for d in self.by_day],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UsageReport:
        return cls(user=d.get("user") or "", from_date=d.get("from") or None, to_date=d.get("to") or None,
                   totals=UsageTotals.from_dict(d.get("totals")),
                   by_model=[ModelUsage(m.get("model") or "", m.get("provider") or "", UsageTotals.from_dict(m))
                             for m in d.get("by_model") or ()],
                   by_day=[DayUsage(x.get("date") or "", UsageTotals.from_dict(x)) for x in d.get("by_day") or ()])


def _unset(d: dict[str, Any] | None) -> bool:
    """A limit the caller does not have: an object whose limit is null (the gateway's way), or null."""
    return not isinstance(d, dict) or d.get("limit") is None


@dataclass
class RateLimit:
    """A per-minute rate (requests or tokens): ``remaining`` now, ``reset_s`` seconds until it is full again
    (both ``None`` when the gateway could not read its shared counters)."""

    limit: int
    remaining: int | None = None
    reset_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "remaining": self.remaining, "reset_s": self.reset_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RateLimit | None:
        if d is None or _unset(d):
            return None
        return cls(d["limit"], d.get("remaining"), d.get("reset_s"))


@dataclass
class BudgetLimit:
    """The daily budget in USD (UTC day): ``spent`` today as the gateway sees it, ``remaining`` of it."""

    limit: float
    spent: float = 0.0
    remaining: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "spent": self.spent, "remaining": self.remaining}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> BudgetLimit | None:
        if d is None or _unset(d):
            return None
        return cls(d["limit"], d.get("spent") or 0, d.get("remaining") or 0)


@dataclass
class ConcurrencyLimit:
    """Requests in flight at once: ``in_flight`` now (``None`` when the shared counters could not be read)."""

    limit: int
    in_flight: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "in_flight": self.in_flight}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ConcurrencyLimit | None:
        if d is None or _unset(d):
            return None
        return cls(d["limit"], d.get("in_flight"))


@dataclass
class Limits:
    """The caller's limits and where it stands (``GET /v1/limits``, ``GetLimits``). ``user`` is the verified
    JWT's ``sub`` (``None``: an anonymous caller, which the gateway limits as one shared caller); each group
    is ``None`` when that limit is not set for the caller."""

    user: str | None = None
    requests: RateLimit | None = None
    tokens: RateLimit | None = None
    budget_usd_per_day: BudgetLimit | None = None
    max_concurrent: ConcurrencyLimit | None = None

    def to_dict(self) -> dict[str, Any]:
        """The REST ``limits`` object, as the gateway writes it: a limit not set has every field null."""
        return {"object": "limits", "user": self.user,
                "requests": (self.requests or _NO_RATE).to_dict(),
                "tokens": (self.tokens or _NO_RATE).to_dict(),
                "budget_usd_per_day": (self.budget_usd_per_day or _NO_BUDGET).to_dict(),
                "max_concurrent": (self.max_concurrent or _NO_CONCURRENCY).to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Limits:
        return cls(user=d.get("user") or None, requests=RateLimit.from_dict(d.get("requests")),
                   tokens=RateLimit.from_dict(d.get("tokens")),
                   budget_usd_per_day=BudgetLimit.from_dict(d.get("budget_usd_per_day")),
                   max_concurrent=ConcurrencyLimit.from_dict(d.get("max_concurrent")))


# the REST shape of a limit not set (every field null)
_NO_RATE: Any = RateLimit(None, None, None)  # type: ignore[arg-type]
_NO_BUDGET: Any = BudgetLimit(None, None, None)  # type: ignore[arg-type]
_NO_CONCURRENCY: Any = ConcurrencyLimit(None, None)  # type: ignore[arg-type]
