"""Shared machinery for the provider emulators.

An emulator is an aiohttp app bound to 127.0.0.1 on an ephemeral port that speaks one provider's wire
format.  Tests script it with a FIFO queue of :class:`Turn` (a reply) and :class:`Fault` (a failure)
items; every chat POST consumes one item, and when the queue is empty a small deterministic "mock
model" answers (see :func:`mock_turn`).

Order of processing for a chat POST (same for both providers):

1. the request is recorded in ``emu.requests`` (even if it is then rejected);
2. ``response_delay`` is slept;
3. auth, headers, JSON and schema validation run (a rejection does NOT consume a queue item);
4. one queue item is popped: a ``Fault`` is applied, a ``Turn`` is rendered, nothing -> mock model.

Mock tokenizer (deterministic, provider independent for equal content):

* prompt tokens = number of whitespace-separated words in all text of the request (system prompt,
  message text, tool results, tool-call arguments as compact JSON) plus the words of the ``tools``
  array serialised as compact JSON (``orjson.dumps(tools).split()``; compact JSON has whitespace only
  inside string values, so an Anthropic tool and the equivalent Llama tool count the same); minimum 1.
* completion tokens = words of the answer text + 5 per tool call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import string
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "ChatView",
    "Emulator",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "Turn",
    "count_words",
    "mock_turn",
    "synthesize_arguments",
]

_ALNUM = string.ascii_letters + string.digits


def random_id(prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(random.choices(alphabet, k=length))


# --------------------------------------------------------------------------------------------------
# Script items
# --------------------------------------------------------------------------------------------------


@dataclass
class ToolCall:
    """A tool call the model makes.  ``arguments``: dict (both providers) or str (Llama only, sent
    verbatim, may be invalid JSON).  ``id`` is generated when absent."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass
class Turn:
    """A scripted model reply.

    ``stop``: provider-neutral name ("auto", "max_tokens", "stop_sequence", "refusal", "pause_turn",
    "model_context_window_exceeded") mapped per provider, or a raw provider stop_reason sent verbatim.
    ``usage``: (input/prompt tokens, output/completion tokens); None -> mock tokenizer.
    """

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    stop: str = "auto"
    usage: tuple[int, int] | None = None
    cache_read: int = 0
    cache_creation: int = 0


@dataclass
class Fault:
    """A scripted failure, applied to exactly one chat POST.

    * ``status`` (+ ``error_type``, ``message``): HTTP error with the provider's error body.
    * ``retry_after``: adds a ``retry-after`` header; ``headers``: extra response headers.
    * ``delay``: sleep before answering (if nothing else is set the mock model then answers normally).
    * ``body``: raw bytes sent verbatim with ``status`` (default 200).
    * ``reset``: close the TCP connection (RST) without sending anything.
    * ``stream_error_after=N``: stream N events normally, then an in-stream error event, then end.
      ``drop_after=N``: stream N events, then drop the connection (no terminating chunk).
      The streamed content is the mock model's answer.  On a non-streaming request
      ``stream_error_after`` becomes an HTTP error (``status`` or the provider's overload status) and
      ``drop_after`` sends the headers and half of the body, then drops the connection.
    """

    status: int | None = None
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0
    body: bytes | None = None
    reset: bool = False
    stream_error_after: int | None = None
    drop_after: int | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    api_key: str | None
    body: bytes = b""
    status: int | None = None  # HTTP status the emulator answered with (None: connection reset)


# --------------------------------------------------------------------------------------------------
# Mock model
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ChatView:
    """Provider-neutral view of a chat request, built by each emulator for the mock model."""

    model: str
    tools: list[tuple[str, dict[str, Any]]]  # (name, JSON schema)
    tool_choice: str  # "none" | "auto" | "any" | "tool"
    forced_tool: str | None
    last_kind: str  # "user_text" | "tool_results" | "other"
    last_user_text: str
    tool_results: list[str]
    max_tokens: int | None
    prompt_tokens: int
    stop_sequences: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Reply:
    """A fully resolved reply (ids assigned, usage computed); ``stop`` still provider-neutral/raw."""

    text: str | None
    tool_calls: list[ToolCall]
    stop: str
    input_tokens: int
    output_tokens: int
    cache_read: int
    cache_creation: int


def count_words(text: str | bytes) -> int:
    return len(text.split())


_SCHEMA_DEFAULTS: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
}


def _value_for(prop: Any) -> Any:
    if not isinstance(prop, dict):
        return "example"
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    typ = prop.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "string")
    if typ == "array":
        return []
    if typ == "object":
        return {}
    return _SCHEMA_DEFAULTS.get(typ, "example")


def synthesize_arguments(schema: Any) -> dict[str, Any]:
    """Arguments for a tool call from its JSON schema: only ``required`` properties, by type."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    required = schema.get("required") or []
    return {name: _value_for(props.get(name)) for name in required if isinstance(name, str)}


def mock_turn(view: ChatView) -> Turn:
    """The default deterministic answer for a request (used when the script queue is empty)."""
    if view.tools and view.tool_choice != "none" and view.last_kind == "user_text":
        name, schema = view.tools[0]
        if view.forced_tool is not None:
            for tool_name, tool_schema in view.tools:
                if tool_name == view.forced_tool:
                    name, schema = tool_name, tool_schema
                    break
        return Turn(tool_calls=[ToolCall(name=name, arguments=synthesize_arguments(schema))])
    if view.last_kind == "tool_results":
        text = "Tool results received: " + "; ".join(view.tool_results)
    else:
        text = f"Hello from the {view.model} emulator. You said: {view.last_user_text}"
    words = text.split()
    if view.max_tokens is not None and len(words) > view.max_tokens:
        return Turn(text=" ".join(words[: view.max_tokens]), stop="max_tokens")
    return Turn(text=text)


def resolve_turn(turn: Turn | None, view: ChatView, new_tool_id: Any) -> Reply:
    if turn is None:
        turn = mock_turn(view)
    calls = [ToolCall(c.name, c.arguments, c.id or new_tool_id()) for c in turn.tool_calls]
    if turn.usage is not None:
        input_tokens, output_tokens = turn.usage
    else:
        input_tokens = view.prompt_tokens
        output_tokens = (count_words(turn.text) if turn.text else 0) + 5 * len(calls)
    return Reply(
        text=turn.text,
        tool_calls=calls,
        stop=turn.stop,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read=turn.cache_read,
        cache_creation=turn.cache_creation,
    )


def text_chunks(text: str, words_per_chunk: int = 3) -> list[str]:
    """Split ``text`` into chunks of a few words; the concatenation is exactly ``text``."""
    pieces: list[str] = []
    count = 0
    start = 0
    n = len(text)
    i = 0
    while i < n:
        # consume leading whitespace + one word
        while i < n and text[i].isspace():
            i += 1
        while i < n and not text[i].isspace():
            i += 1
        count += 1
        if count == words_per_chunk:
            pieces.append(text[start:i])
            start = i
            count = 0
    if start < n:
        if pieces and not text[start:].strip():
            pieces[-1] += text[start:]
        else:
            pieces.append(text[start:])
    return pieces or [text]


def split_fragments(s: str, parts: int = 2) -> list[str]:
    """Split a string into ``parts`` non-empty fragments (fewer if it is short)."""
    if not s:
        return []
    parts = max(1, min(parts, len(s)))
    step = -(-len(s) // parts)
    return [s[i : i + step] for i in range(0, len(s), step)]


# --------------------------------------------------------------------------------------------------
# Emulator base
# --------------------------------------------------------------------------------------------------


class Emulator:
    """Base class: lifecycle, recording, script queue, fault handling and SSE streaming."""

    #: provider name, for messages
    provider = "base"
    #: path prefix appended to ``http://127.0.0.1:PORT`` to form ``base_url``
    base_path = ""
    #: words per streamed text chunk
    words_per_chunk = 3

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        #: set False for long benchmark runs so ``requests`` does not grow without bound
        self.record_requests = True
        self.valid_keys: set[str] | None = None
        self.stream_delay: float = 0.0
        self.response_delay: float = 0.0
        self.aborted_streams = 0
        self.active_streams = 0
        self._queue: deque[Turn | Fault] = deque()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("emulator not started")
        return f"http://{self.host}:{self.port}{self.base_path}"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    def add_routes(self, app: web.Application) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def start(self) -> Emulator:
        if self._runner is not None:
            return self
        self._stopping = False
        runner = web.AppRunner(self.make_app(), handler_cancellation=True, access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        # a backlog like the gateway's: 1,000-stream bursts must not lose SYNs to a full accept queue
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=1024)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._stopping = True
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- scripting -------------------------------------------------------------------------------

    def enqueue(self, *items: Turn | Fault) -> None:
        for item in items:
            if not isinstance(item, (Turn, Fault)):
                raise TypeError(f"expected Turn or Fault, got {type(item).__name__}")
            self.check_item(item)
            self._queue.append(item)

    def check_item(self, item: Turn | Fault) -> None:
        """Provider-specific validation of a script item (raise ValueError)."""

    @property
    def pending(self) -> int:
        """Number of script items not consumed yet."""
        return len(self._queue)

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def reset(self) -> None:
        """Clear recorded requests, the script queue and the abort counter (``active_streams`` keeps
        tracking live streams)."""
        self.requests.clear()
        self._queue.clear()
        self.aborted_streams = 0

    # ---- provider hooks --------------------------------------------------------------------------

    def error_response(
        self, status: int, error_type: str | None, message: str | None, headers: dict[str, str] | None = None
    ) -> web.Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def stream_error_event(self, fault: Fault) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def overload_status(self) -> int:
        return 500

    def validate(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        """Auth, headers, JSON and schema checks; return an error response or None."""
        raise NotImplementedError  # pragma: no cover

    def view(self, body: dict[str, Any]) -> ChatView:  # pragma: no cover - abstract
        raise NotImplementedError

    def new_tool_id(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_json(self, reply: Reply, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError  # pragma: no cover

    def render_events(self, reply: Reply, body: dict[str, Any]) -> tuple[list[bytes], dict[str, str]]:
        raise NotImplementedError  # pragma: no cover

    # ---- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def extract_key(headers: Any) -> str | None:
        key = headers.get("x-api-key")
        if key:
            return key
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    def key_rejected(self, key: str | None) -> bool:
        return self.valid_keys is not None and key not in self.valid_keys

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return self.error_response(404, "not_found_error", "Not Found")

    @staticmethod
    def _reset_connection(request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    # ---- chat handling ---------------------------------------------------------------------------

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=headers,
            json=None,
            api_key=self.extract_key(headers),
            body=raw,
        )
        try:
            rec.json = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            rec.json = None
        if self.record_requests:
            self.requests.append(rec)
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        resp = await self._answer(request, rec)
        if resp is None:  # connection reset before any response
            return web.Response()  # transport already gone; aiohttp discards this quietly
        rec.status = resp.status
        return resp

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse | None:
        error = self.validate(request, rec)
        if error is not None:
            return error
        body: dict[str, Any] = rec.json
        item = self._queue.popleft() if self._queue else None
        stream = body.get("stream") is True
        fault: Fault | None = None
        turn: Turn | None = None
        if isinstance(item, Fault):
            fault = item
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.reset:
                self._reset_connection(request)
                return None
            if fault.body is not None:
                hdrs = {"content-type": "application/json"}
                if fault.retry_after is not None:
                    hdrs["retry-after"] = _fmt_seconds(fault.retry_after)
                hdrs.update(fault.headers or {})
                return web.Response(status=fault.status or 200, body=fault.body, headers=hdrs)
            streaming_fault = fault.stream_error_after is not None or fault.drop_after is not None
            if fault.status is not None and not streaming_fault:
                return self._fault_response(fault, fault.status)
            if not stream and fault.stream_error_after is not None:
                return self._fault_response(fault, fault.status or self.overload_status())
        elif isinstance(item, Turn):
            turn = item
        reply = resolve_turn(turn, self.view(body), self.new_tool_id)
        if not stream:
            payload, hdrs = self.render_json(reply, body)
            if fault is not None and fault.drop_after is not None:
                return await self._drop_json(request, payload, hdrs)
            if fault is not None and fault.headers:
                hdrs.update(fault.headers)
            return web.Response(body=payload, headers=hdrs)
        events, hdrs = self.render_events(reply, body)
        if fault is not None and fault.headers:
            hdrs.update(fault.headers)
        return await self._stream(request, events, hdrs, fault)

    def _fault_response(self, fault: Fault, status: int) -> web.Response:
        hdrs: dict[str, str] = {}
        if fault.retry_after is not None:
            hdrs["retry-after"] = _fmt_seconds(fault.retry_after)
        hdrs.update(fault.headers or {})
        return self.error_response(status, fault.error_type, fault.message, hdrs)

    async def _drop_json(self, request: web.Request, payload: bytes, hdrs: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(headers=hdrs)
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload[: len(payload) // 2])
        if request.transport is not None:
            request.transport.close()
        return resp

    async def _stream(
        self, request: web.Request, events: list[bytes], hdrs: dict[str, str], fault: Fault | None
    ) -> web.StreamResponse:
        tail: bytes = b""
        drop = False
        if fault is not None and fault.stream_error_after is not None:
            events = events[: fault.stream_error_after]
            tail = self.stream_error_event(fault)
        elif fault is not None and fault.drop_after is not None:
            events = events[: fault.drop_after]
            drop = True
        resp = web.StreamResponse(status=200, headers=hdrs)
        await resp.prepare(request)
        self.active_streams += 1
        try:
            delay = self.stream_delay
            if not delay:
                await resp.write(b"".join(events) + tail)
            else:
                for i, event in enumerate(events):
                    if i:
                        await asyncio.sleep(delay)
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        self.aborted_streams += 1
                        return resp
                    await resp.write(event)
                if tail:
                    await asyncio.sleep(delay)
                    await resp.write(tail)
            if drop:
                if request.transport is not None:
                    request.transport.close()
                return resp
            await resp.write_eof()
            return resp
        except ConnectionError:
            self.aborted_streams += 1
            return resp
        except asyncio.CancelledError:
            if not self._stopping:
                self.aborted_streams += 1
            raise
        finally:
            self.active_streams -= 1


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def sse(event: str | None, data: Any) -> bytes:
    payload = orjson.dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


def iter_text(content: Any) -> Iterable[str]:
    """Yield text strings from a string or a list of ``{"type": "text", "text": ...}`` items."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, dict):
        if content.get("type") == "text" and isinstance(content.get("text"), str):
            yield content["text"]
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                yield part["text"]
