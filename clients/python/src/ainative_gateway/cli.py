"""``gateway-chat``: chat with the gateway, list its models and tools, read your usage and your limits.

Exit status: 0 on success, 1 when the gateway (or the way to it) answered an error, 2 on a usage error,
130 when interrupted. Errors are one line on stderr: ``error: <code>: <message>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ainative_gateway._version import __version__
from ainative_gateway.client import DEFAULT_URL, GatewayClient
from ainative_gateway.errors import GatewayError
from ainative_gateway.results import ChatCompletion, Limits, RateLimit, StreamAssembler, ToolCall

DEFAULT_MODEL = "claude-sonnet-4-5"

DESCRIPTION = "Talk to the AINative chat-completion gateway over REST (default) or gRPC."
EPILOG = f"""\
examples:
  gateway-chat chat "Hello!"
  gateway-chat chat "Show me the users table" --tool zerodb_query_table --model Llama-3.3-70B-Instruct
  echo "Summarise this" | gateway-chat chat --system "Be brief" --no-stream --json
  gateway-chat --grpc 127.0.0.1:50051 models
  gateway-chat tools --group zerodb
  gateway-chat --token "$JWT" usage --from 2026-11-01 --to 2026-11-30
  gateway-chat --token "$JWT" limits

environment (flags win):
  GATEWAY_URL           REST base URL (default {DEFAULT_URL})
  GATEWAY_GRPC          gRPC target host:port; used when set and --url is not given
  GATEWAY_TOKEN         JWT sent as "Authorization: Bearer ..."
  GATEWAY_PROVIDER_KEY  your own provider key for these calls (X-Provider-Key)
  GATEWAY_MODEL         default model (default {DEFAULT_MODEL})
  GATEWAY_PROVIDER      default provider (default: inferred from the model)
  GATEWAY_TIMEOUT       seconds per attempt (default 60)

exit status: 0 success, 1 error answered by the gateway or connection failure, 2 usage error"""


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"gateway-chat: error: {name} must be a number, got {raw!r}") from None


def _connection_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options that pick the gateway, accepted before or after the command."""
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("connection")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--url", default=default, metavar="URL",
                       help=f"REST base URL (env GATEWAY_URL, default {DEFAULT_URL})")
    where.add_argument("--grpc", default=default, metavar="HOST:PORT",
                       help="use gRPC at this target (env GATEWAY_GRPC)")
    group.add_argument("--token", default=default, metavar="JWT", help="JWT for identity and usage (env GATEWAY_TOKEN)")
    group.add_argument("--provider-key", default=default, metavar="KEY",
                       help="your own provider key for this call (env GATEWAY_PROVIDER_KEY)")
    group.add_argument("--timeout", type=float, default=default, metavar="SECONDS",
                       help="seconds per attempt (env GATEWAY_TIMEOUT, default 60)")
    group.add_argument("--retries", type=int, default=default, metavar="N",
                       help="retries on connection errors, 429 and 5xx (default 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-chat", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _connection_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    chat = commands.add_parser("chat", help="send a prompt; the answer streams as it arrives",
                               description="Send a prompt and print the answer as it streams in. Tool calls the "
                                           "model makes are printed as '[tool call] name(arguments)'.")
    chat.add_argument("prompt", nargs="?", help="the user message (default: read standard input)")
    chat.add_argument("-m", "--model", help=f"model id (env GATEWAY_MODEL, default {DEFAULT_MODEL})")
    chat.add_argument("-p", "--provider", help="meta_llama or anthropic (default: inferred from the model)")
    chat.add_argument("-s", "--system", help="a system prompt")
    chat.add_argument("-t", "--tool", action="append", default=[], metavar="NAME",
                      help="offer a catalog tool by name (repeat, or comma-separate, for several)")
    chat.add_argument("--temperature", type=float, help="sampling temperature, 0.0-1.0")
    chat.add_argument("--max-tokens", type=int, metavar="N", help="cap on the answer's tokens")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    chat.add_argument("--json", action="store_true", help="print the final completion as JSON")
    _connection_options(chat, suppress=True)

    models = commands.add_parser("models", help="list the model catalog", description="List the model catalog.")
    models.add_argument("--provider", help="only this provider's models")
    models.add_argument("--json", action="store_true", help="print JSON (the REST /v1/models shape)")
    _connection_options(models, suppress=True)

    tools = commands.add_parser("tools", help="list the tool catalog", description="List the tool catalog.")
    tools.add_argument("--group", help="only this group (zerodb or agent)")
    tools.add_argument("--name", action="append", default=[], metavar="NAME", help="only these tools (repeatable)")
    tools.add_argument("--json", action="store_true", help="print JSON (the REST /v1/tools shape)")
    _connection_options(tools, suppress=True)

    usage = commands.add_parser("usage", help="your own usage (needs --token)",
                                description="Your own usage, by model and by day (needs a JWT: --token).")
    usage.add_argument("--from", dest="from_date", metavar="YYYY-MM-DD", help="first day (inclusive, UTC)")
    usage.add_argument("--to", dest="to_date", metavar="YYYY-MM-DD", help="last day (inclusive, UTC)")
    usage.add_argument("--json", action="store_true", help="print JSON (the REST /v1/usage shape)")
    _connection_options(usage, suppress=True)

    limits = commands.add_parser("limits", help="your limits and where you stand",
                                 description="Your limits (requests and tokens per minute, USD per UTC day, "
                                             "requests in flight) and what is left of each now. The JWT "
                                             "(--token) names you; without one, the anonymous callers' limits.")
    limits.add_argument("--json", action="store_true", help="print JSON (the REST /v1/limits shape)")
    _connection_options(limits, suppress=True)
    return parser


def make_client(args: argparse.Namespace) -> GatewayClient:
    env = os.environ
    timeout = args.timeout if args.timeout is not None else _env_float("GATEWAY_TIMEOUT", 60.0)
    retries = args.retries if args.retries is not None else 2
    common: dict[str, Any] = {
        "token": args.token or env.get("GATEWAY_TOKEN") or None,
        "provider_key": args.provider_key or env.get("GATEWAY_PROVIDER_KEY") or None,
        "timeout": timeout if timeout > 0 else None,
        "max_retries": max(retries, 0),
    }
    # --url / --grpc, else GATEWAY_GRPC, else GATEWAY_URL: the library's own rule (client.resolve_endpoint)
    return GatewayClient(args.url, grpc_target=args.grpc, **common)


def _print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _tool_call_line(call: ToolCall) -> str:
    return f"[tool call] {call.name}({call.arguments})\n"


def run_chat(client: GatewayClient, args: argparse.Namespace, parser: argparse.ArgumentParser, out: TextIO) -> None:
    prompt = args.prompt
    if prompt is None:
        if sys.stdin is None or sys.stdin.isatty():
            parser.error("chat needs a prompt (an argument, or text on standard input)")
        prompt = sys.stdin.read()
    if not prompt.strip():
        parser.error("the prompt is empty")
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    tools = [name.strip() for value in args.tool for name in value.split(",") if name.strip()]
    request: dict[str, Any] = {
        "model": args.model or os.environ.get("GATEWAY_MODEL") or DEFAULT_MODEL,
        "provider": args.provider or os.environ.get("GATEWAY_PROVIDER") or None,
        "tools": tools or None, "temperature": args.temperature, "max_tokens": args.max_tokens,
    }
    if args.no_stream:
        completion = client.chat(messages, **request)
        if not args.json and completion.content:
            out.write(completion.content)
    else:
        assembler, last = StreamAssembler(), "\n"
        try:
            for chunk in client.stream(messages, include_usage=args.json, **request):
                assembler.add(chunk)
                if not args.json and chunk.text:
                    out.write(chunk.text)
                    out.flush()
                    last = chunk.text[-1]
        except GatewayError:
            if last != "\n":  # the error message goes to stderr on a line of its own
                out.write("\n")
                out.flush()
            raise
        completion = assembler.completion()
    if args.json:
        _print_json(completion.to_dict(), out)
        return
    _finish_text(completion, out)


def _finish_text(completion: ChatCompletion, out: TextIO) -> None:
    if completion.content and not completion.content.endswith("\n"):
        out.write("\n")
    for call in completion.tool_calls:
        out.write(_tool_call_line(call))
    if completion.finish_reason == "length":
        out.write("[stopped: max_tokens reached]\n")
    out.flush()


def _table(rows: list[list[str]], out: TextIO, right: Sequence[int] = ()) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        out.write("  ".join(cells).rstrip() + "\n")


def run_models(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> None:
    models = client.models(provider=args.provider)
    if args.json:
        _print_json({"object": "list", "data": [m.to_dict() for m in models]}, out)
        return
    rows = [["MODEL", "PROVIDER", "PROVIDER MODEL ID", "CONTEXT", "MAX OUTPUT", "$/1M IN", "$/1M OUT"]]
    rows += [[m.id, m.provider, m.provider_model_id, f"{m.context_window:,}", f"{m.max_output_tokens:,}",
              f"{m.pricing.input_per_mtok:.2f}", f"{m.pricing.output_per_mtok:.2f}"] for m in models]
    _table(rows, out, right=(3, 4, 5, 6))


def _first_sentence(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_tools(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> None:
    tools = client.tools(group=args.group, names=[n for v in args.name for n in v.split(",")] or None)
    if args.json:
        _print_json({"object": "list", "data": [{**t.to_dict(), "group": t.group} for t in tools]}, out)
        return
    if not tools:
        out.write("no tools\n")
        return
    _table([["TOOL", "GROUP", "DESCRIPTION"]] + [[t.name, t.group, _first_sentence(t.description)] for t in tools], out)


def run_usage(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> None:
    report = client.usage(args.from_date, args.to_date)
    if args.json:
        _print_json(report.to_dict(), out)
        return
    period = f"{report.from_date or 'the beginning'} to {report.to_date or 'now'}"
    out.write(f"usage of {report.user}, {period}\n\n")
    header = ["", "REQUESTS", "PROMPT", "COMPLETION", "TOTAL", "COST USD"]

    def row(label: str, t: Any) -> list[str]:
        return [label, f"{t.requests:,}", f"{t.prompt_tokens:,}", f"{t.completion_tokens:,}", f"{t.total_tokens:,}",
                f"{t.cost_usd:.6f}"]

    rows = [header, row("total", report.totals)]
    rows += [row(f"{m.model} ({m.provider})", m.totals) for m in report.by_model]
    rows += [row(d.date, d.totals) for d in report.by_day]
    _table(rows, out, right=(1, 2, 3, 4, 5))


def _usd(value: float) -> str:
    """At least cents, at most micro-dollars: 5 -> 5.00, 0.0105 -> 0.0105."""
    text = f"{value:.6f}".rstrip("0")
    return text + "0" * (2 - len(text.split(".")[1]))


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") + "s"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"  # None: the gateway could not read its shared counters


def run_limits(client: GatewayClient, args: argparse.Namespace, out: TextIO) -> None:
    limits: Limits = client.limits()
    if args.json:
        _print_json(limits.to_dict(), out)
        return
    out.write(f"limits of {limits.user or 'anonymous callers'}\n\n")

    def rate(label: str, r: RateLimit | None) -> list[str]:
        if r is None:
            return [label, "none", "", ""]
        return [label, f"{r.limit:,}", _count(r.remaining),
                f"full again in {_seconds(r.reset_s)}" if r.reset_s is not None else ""]

    b, c = limits.budget_usd_per_day, limits.max_concurrent
    rows = [["LIMIT", "MAX", "REMAINING", ""],
            rate("requests per minute", limits.requests),
            rate("tokens per minute", limits.tokens),
            ["USD per day (UTC)", _usd(b.limit), _usd(b.remaining), f"spent {_usd(b.spent)} today"] if b
            else ["USD per day (UTC)", "none", "", ""],
            ["requests in flight", f"{c.limit:,}",
             _count(None if c.in_flight is None else max(c.limit - c.in_flight, 0)),
             f"in flight {_count(c.in_flight)}"] if c else ["requests in flight", "none", "", ""]]
    _table(rows, out, right=(1, 2))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        with make_client(args) as client:
            if args.command == "chat":
                run_chat(client, args, parser, out)
            elif args.command == "models":
                run_models(client, args, out)
            elif args.command == "tools":
                run_tools(client, args, out)
            elif args.command == "limits":
                run_limits(client, args, out)
            else:
                run_usage(client, args, out)
    except GatewayError as err:
        sys.stderr.write(f"error: {err.code}: {err.message}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except BrokenPipeError:  # e.g. | head: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
