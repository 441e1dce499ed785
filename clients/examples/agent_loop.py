"""The client-side agentic loop of the guide, shared by the examples.

The gateway never runs tools: it returns ``tool_calls`` with ``finish_reason: "tool_calls"``.  The client
runs each requested tool, appends the assistant message and one ``{"role": "tool", ...}`` message per call,
and posts again until ``finish_reason`` is ``stop`` (or ``max_iterations`` calls were made).

Only ``httpx`` is needed; nothing here imports the gateway's own packages.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080"

#: An executor takes the decoded tool arguments and returns a JSON-serialisable result (may be async).
Executor = Callable[[dict[str, Any]], Any | Awaitable[Any]]


def gateway_url() -> str:
    return os.environ.get("GATEWAY_URL", DEFAULT_GATEWAY_URL).rstrip("/")


def chat_url() -> str:
    return f"{gateway_url()}/v1/chat/completions"


class GatewayHTTPError(Exception):
    """The gateway answered with an HTTP error; ``message`` is its ``error.message``."""

    def __init__(self, status: int, message: str, code: str | None = None, retry_after: str | None = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after


class MaxIterationsExceeded(Exception):
    """The model was still calling tools after ``max_iterations`` calls (the guide's error message)."""

    def __init__(self, max_iterations: int):
        super().__init__(f"Maximum tool calling iterations ({max_iterations}) exceeded without completion")
        self.max_iterations = max_iterations


class ToolError(Exception):
    """A tool failed in a way the model should see (returned as ``{"error": ...}`` tool content)."""


def check_response(response: httpx.Response) -> dict[str, Any]:
    """The decoded body of a successful response; raise GatewayHTTPError on an HTTP error."""
    if response.is_success:
        return response.json()
    message, code = response.reason_phrase or "error", None
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        code = error.get("code")
    elif isinstance(error, str):
        message = error
    elif response.text.strip():
        message = response.text.strip()[:300]
    raise GatewayHTTPError(response.status_code, message, code, response.headers.get("retry-after"))


async def post_chat(
    client: httpx.AsyncClient, payload: dict[str, Any], *, request_timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One ``POST /v1/chat/completions``, as the guide sends it."""
    response = await client.post(
        chat_url(),
        headers={"Content-Type": "application/json", **(headers or {})},
        json=payload,
        timeout=request_timeout,
    )
    return check_response(response)


@dataclass
class AgentResult:
    response: dict[str, Any]  # the last response (finish_reason stop, length, ...)
    iterations: int  # calls made to the gateway
    total_tokens_used: int  # summed over all calls
    messages: list[dict[str, Any]] = field(default_factory=list)  # the whole conversation

    @property
    def content(self) -> str | None:
        return self.response["choices"][0]["message"].get("content")


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def execute_tool_call(call: dict[str, Any], executors: Mapping[str, Executor]) -> dict[str, Any]:
    """Run one tool call; every failure becomes an error result the model sees (guide Best Practice 5)."""
    function = call.get("function") or {}
    name = function.get("name") or ""

    def failed(message: str) -> dict[str, Any]:
        return {"error": message, "tool_name": name, "status": "failed"}

    executor = executors.get(name)
    if executor is None:
        return failed(f"Unknown tool {name!r}: this client can run {', '.join(sorted(executors)) or 'no tools'}")
    raw = function.get("arguments") or "{}"
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        return failed(f"Invalid JSON arguments: {exc}")
    if not isinstance(arguments, dict):
        return failed("Tool arguments must be a JSON object")
    try:
        if inspect.iscoroutinefunction(executor):
            result = await executor(arguments)
        else:  # local tools block (files, subprocesses): keep them off the event loop
            result = await asyncio.to_thread(executor, arguments)
    except ToolError as exc:
        return failed(str(exc))
    except Exception as exc:  # noqa: BLE001 - the model sees the failure; the loop goes on
        return failed(f"Tool execution failed: {type(exc).__name__}: {exc}")
    return result if isinstance(result, dict) else {"result": result}


async def run_agent(
    client: httpx.AsyncClient,
    payload: dict[str, Any],
    executors: Mapping[str, Executor],
    *,
    max_iterations: int | None = None,
    request_timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> AgentResult:
    """Post ``payload``; while the model asks for tools, run them and post again.

    ``max_iterations`` (default: the payload's, else 5 as in the guide) bounds the number of calls; when
    the model still asks for tools after that many, MaxIterationsExceeded is raised.
    """
    limit = max_iterations if max_iterations is not None else int(payload.get("max_iterations") or 5)
    messages = list(payload["messages"])
    total_tokens = 0
    for iteration in range(1, limit + 1):
        result = await post_chat(client, {**payload, "messages": messages}, request_timeout=request_timeout,
                                 headers=headers)
        tokens = int(result.get("total_tokens_used") or result.get("usage", {}).get("total_tokens") or 0)
        total_tokens += tokens
        choice = result["choices"][0]
        message = choice["message"]
        finish_reason = choice.get("finish_reason") or result.get("finish_reason")
        calls = message.get("tool_calls") or []
        if finish_reason != "tool_calls" or not calls:
            log(f"[iteration {iteration}] finish_reason={finish_reason}, {tokens} tokens")
            return AgentResult(result, iteration, total_tokens, messages + [message])
        log(f"[iteration {iteration}] {len(calls)} tool call(s), {tokens} tokens")
        messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
        for call in calls:
            output = await execute_tool_call(call, executors)
            status = "error" if "error" in output else "ok"
            log(f"    {call['function']['name']}({_short(call['function'].get('arguments') or '')}) -> "
                f"{status}: {_short(output)}")
            messages.append({"role": "tool", "tool_call_id": call["id"],
                             "content": json.dumps(output, ensure_ascii=False, default=str)})
    raise MaxIterationsExceeded(limit)


def run(main: Coroutine[Any, Any, Any]) -> None:
    """``asyncio.run(main)``, turning the expected failures into one clear line and exit status 1."""
    try:
        asyncio.run(main)
    except GatewayHTTPError as exc:
        sys.exit(f"Error: gateway returned HTTP {exc.status}: {exc.message}")
    except MaxIterationsExceeded as exc:
        sys.exit(f"Error: {exc}")
    except httpx.TimeoutException:
        sys.exit(f"Error: request to {gateway_url()} timed out - try reducing max_iterations or using simpler tools")
    except httpx.HTTPError as exc:
        sys.exit(f"Error: cannot reach the gateway at {gateway_url()}: {type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        sys.exit("Interrupted")
