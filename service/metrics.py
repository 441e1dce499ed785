"""Prometheus metrics, served at GET /metrics.

Module-level like every prometheus_client user: the registry is process-wide by design.

Label vocabularies, one per label name, whatever the transport (README, Operations):
`status` is an HTTP status code ("200", "400", "499" for a caller that went away); an RPC is labelled
with the status its outcome has over REST (the README's error table), so one `status=~"5.."` covers
both transports. `code` is the gateway's error code ("invalid_request", "upstream_error", ...), "ok"
on success, "cancelled" for an abandoned call: the same word a client sees in `error.code` / ErrorInfo.
"""

from __future__ import annotations

from typing import Any

from ainative.chat.v1 import chat_pb2 as pb
from prometheus_client import Counter, Gauge, Histogram

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter("gateway_requests_total", "HTTP/gRPC requests served",
                   ["transport", "route", "status", "code"])
IN_FLIGHT = Gauge("gateway_in_flight_requests", "Requests being served", ["transport"])
REQUEST_LATENCY = Histogram("gateway_request_duration_seconds", "Time to serve a request", ["transport", "route"],
                            buckets=_SLOW)
OVERHEAD = Histogram("gateway_overhead_seconds", "Request time not spent waiting on the provider", ["transport"],
                     buckets=_FAST)
CALLS = Counter("gateway_model_calls_total", "Model calls sent to a provider", ["provider", "model", "code"])
CALL_LATENCY = Histogram("gateway_model_call_duration_seconds", "Model call time, retries included",
                         ["provider"], buckets=_SLOW)
UPSTREAM_LATENCY = Histogram("gateway_upstream_duration_seconds", "Time spent waiting on the provider",
                             ["provider"], buckets=_SLOW)
TOKENS = Counter("gateway_tokens_total", "Tokens by kind", ["provider", "model", "kind"])
TASKS = Gauge("gateway_asyncio_tasks", "Live asyncio tasks (sampled when /metrics is read)")
STREAM_TTFT = Histogram("gateway_stream_time_to_first_token_seconds", "Time to the first streamed chunk",
                        ["provider"], buckets=_SLOW)
# the usage ledger: records waiting in memory and in the spool file, records the store refused (set aside in
# DATA_DIR/ledger-rejected.jsonl), and failed writes by kind ("outage": retried later; "refused": split)
LEDGER_BUFFERED = Gauge("gateway_ledger_buffered_records", "Usage records waiting in memory to be written")
LEDGER_SPOOLED = Gauge("gateway_ledger_spooled_records", "Usage records waiting in the spool file to be written")
LEDGER_REJECTED = Counter("gateway_ledger_rejected_records_total",
                          "Usage records the store refused, set aside in ledger-rejected.jsonl")
LEDGER_WRITE_FAILURES = Counter("gateway_ledger_write_failures_total", "Failed usage-ledger writes", ["kind"])
# limits per caller (service/limits/): requests refused by `reason` ("rate_limited", "budget_exceeded",
# "too_many_concurrent"), and failed calls to a limits backend ("redis": the request was admitted anyway;
# "ledger": the day's spending could not be read, the last known figure was used)
LIMIT_REFUSALS = Counter("gateway_limit_refusals_total", "Requests refused by a caller's limits", ["reason"])
LIMITS_BACKEND_ERRORS = Counter("gateway_limits_backend_errors_total", "Failed calls to a limits backend",
                                ["backend"])


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, cached: prometheus_client's own lookup takes a lock and builds a key."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def observe_request(transport: str, route: str, status: int, code: str, latency_s: float) -> None:
    """One served request: `status` an HTTP status code, `code` "ok" or the gateway error code."""
    child(REQUESTS, transport, route, str(status), code).inc()
    child(REQUEST_LATENCY, transport, route).observe(latency_s)


def observe_call(provider: str, model: str, code: str, latency_s: float, upstream_s: float,
                 usage: pb.Usage) -> None:
    child(CALLS, provider, model, code).inc()
    child(CALL_LATENCY, provider).observe(latency_s)
    child(UPSTREAM_LATENCY, provider).observe(upstream_s)
    if usage.prompt_tokens:
        child(TOKENS, provider, model, "prompt").inc(usage.prompt_tokens)
    if usage.completion_tokens:
        child(TOKENS, provider, model, "completion").inc(usage.completion_tokens)
