"""structlog set-up: JSON lines by default, console on a TTY; stdlib logs routed through it.

One canonical line per request (`log_request`), and a last-chance redaction
processor that cuts anything key-shaped out of every value before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import orjson
import structlog

from service.config import Settings
from service.context import CallContext
from service.errors import GatewayError, scrub


def redact_rendered(_: Any, __: str, line: Any) -> Any:
    """The last step: cut anything key-shaped out of the finished line (one regex pass per line)."""
    return scrub(line)


def _render_json(event: Any, **_: Any) -> str:
    try:
        return orjson.dumps(event, default=str).decode()
    except TypeError:  # orjson refuses a str holding a lone UTF-16 surrogate: the stdlib writes its \udXXX escape
        return json.dumps(event, default=str, separators=(",", ":"))


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper())
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:  # a lone surrogate in a console line is written as its escape, never raises
        reconfigure(errors="backslashreplace")
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    console = settings.log_format == "console" or (settings.log_format == "auto" and sys.stdout.isatty())
    if console:
        # plain tracebacks: rich's (the default when rich is installed) renders every frame's locals, which for
        # a deeply nested request body can take minutes and gigabytes
        renderer: structlog.types.Processor = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback)
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_render_json)
    structlog.configure(
        processors=[*shared, renderer, redact_rendered],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # grpc, aiohttp and the SDKs log through the stdlib: same format, same stream, same redaction
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer, redact_rendered],
        foreign_pre_chain=shared,
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "anthropic", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# What a request line says about a call the client abandoned (no GatewayError: nothing was answered).
CANCELLED = "cancelled"
CANCELLED_MESSAGE = "Cancelled before the answer was complete (the client went away)"


# A request refused by its caller's limits (service.limits) is logged sampled: the first refusal per caller and
# reason in REFUSAL_LOG_EVERY_S, whose line says how many it stands for (`refusals`); the others are only
# counted (gateway_limit_refusals_total). A caller over its limit would otherwise write a line per retry.
LIMIT_REFUSALS = frozenset({"rate_limited", "budget_exceeded", "too_many_concurrent"})
REFUSAL_LOG_EVERY_S = 10.0
_REFUSALS_SEEN_MAX = 10_000
_refusals_seen: dict[tuple[str | None, str], list[float]] = {}  # (user, reason) -> [last line at, unlogged]


def sample_refusal(user: str | None, reason: str, now: float | None = None) -> int:
    """How many refusals a line logged now stands for (this one and those unlogged since the last), or 0
    when this one is not to be logged."""
    now = time.monotonic() if now is None else now
    seen = _refusals_seen.get((user, reason))
    if seen is not None and now - seen[0] < REFUSAL_LOG_EVERY_S:
        seen[1] += 1
        return 0
    if seen is None and len(_refusals_seen) >= _REFUSALS_SEEN_MAX:  # bounded: forget the quiet callers
        for key in [k for k, v in _refusals_seen.items() if now - v[0] >= REFUSAL_LOG_EVERY_S]:
            del _refusals_seen[key]
        if len(_refusals_seen) >= _REFUSALS_SEEN_MAX:
            _refusals_seen.clear()
    count = 1 + (int(seen[1]) if seen is not None else 0)
    _refusals_seen[(user, reason)] = [now, 0]
    return count


def log_request(logger: Any, ctx: CallContext, *, transport: str, route: str, status: int, latency_s: float,
                error: GatewayError | None = None, cancelled: bool = False, stream: bool | None = None,
                **extra: Any) -> None:
    """The one line per request: who, what, how it went, and where the time went.

    `status` is an HTTP status on both transports (an RPC's is the one its error has over REST; 499 for
    a call the client abandoned). A failed call's line names its error: `error` (the code),
    `error_message` (scrubbed) and `error_param` when there is one; when an upstream attempt failed,
    `upstream_url` (scheme://host:port/path) and `upstream_cause` say where and why. Chat calls say
    whether they asked for a stream. A request refused by its caller's limits is logged sampled
    (`sample_refusal`).
    """
    s = ctx.stats
    usage = s.usage
    fields: dict[str, Any] = {}
    if error is not None and error.code in LIMIT_REFUSALS and not s.attempts:  # not a provider's own 429
        refusals = sample_refusal(s.user, error.code)
        if not refusals:
            return
        fields["refusals"] = refusals
    if stream is not None:
        fields["stream"] = stream
    if error is not None:
        code: str | None = error.code
        fields["error_message"] = scrub(error.message, ctx.provider_key)
        if error.param:
            fields["error_param"] = error.param
    elif cancelled:
        code = CANCELLED
        fields["error_message"] = CANCELLED_MESSAGE
    else:
        code = s.status if s.status != "ok" else None
    if code is not None and s.upstream_cause:
        fields["upstream_url"], fields["upstream_cause"] = s.upstream_url, s.upstream_cause
    logger.info(
        "request", request_id=ctx.request_id, transport=transport, route=route, status=status,
        user=s.user, provider=s.provider or None, model=s.model or None,
        latency_ms=round(latency_s * 1000, 3), upstream_ms=round(s.upstream_s * 1000, 3),
        upstream_attempts=s.attempts, upstream_request_id=s.upstream_request_id or None,
        iterations=s.iterations or None,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        total_tokens=usage.total_tokens if usage else None,
        error=code, **fields, **extra,
    )
