"""The real entry points as separate processes: `python -m service` (what `make run` starts) and
`python -m bridge`; configuration errors, graceful SIGTERM, and no key in any log line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator

ROOT = Path(__file__).resolve().parents[2]
SERVER_KEY = "sk-ant-test-process-test-server-key-XYZ123"
META_SERVER_KEY = "LLM|test|process-test-meta-key-QRS789"
USER_KEY = "sk-ant-test-process-test-users-own-key-ABC456"


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace"))

    async def wait_for(self, event: str, within: float = 30.0) -> dict:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for line in self.lines:
                if f'"{event}"' in line:
                    return json.loads(line)
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event} line; output: {''.join(self.lines)}")

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        await self._reader
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


async def spawn(module: str, env: dict[str, str]) -> Proc:
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}",
        "LOG_FORMAT": "json",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, cwd=ROOT, env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    return Proc(proc)


@pytest.fixture
async def emulator_env(anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator) -> AsyncIterator[dict[str, str]]:
    yield {
        "ANTHROPIC_BASE_URL": anthropic_emu.base_url,
        "META_API_BASE_URL": llama_emu.base_url,
        "ANTHROPIC_API_KEY": SERVER_KEY,
        "META_API_KEY": META_SERVER_KEY,
        "GRPC_PORT": "0",
        "HTTP_PORT": "0",
        "UPSTREAM_MAX_RETRIES": "0",
    }


async def test_service_serves_logs_without_keys_and_stops_on_sigterm(
    emulator_env: dict[str, str], anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator
) -> None:
    proc = await spawn("service", {**emulator_env, "LOG_LEVEL": "debug"})
    try:
        started = await proc.wait_for("gateway_started")
        url = f"http://{started['http']}"
        body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}], "surprise": 1}
        # providers that echo the key back in their error text must not leak it through us
        anthropic_emu.enqueue(Fault(status=401, message=f"invalid x-api-key: {USER_KEY}"),
                              Fault(status=500, message=f"upstream saw key {SERVER_KEY}"))
        llama_emu.enqueue(Fault(status=403, message=f"key {META_SERVER_KEY} lacks access"))
        seen: list[str] = []
        async with aiohttp.ClientSession() as http:
            for headers, payload in (
                ({"X-Provider-Key": USER_KEY}, body),
                ({}, body),
                ({}, {**body, "model": "Llama-3.3-70B-Instruct"}),
                ({"Authorization": f"Bearer {USER_KEY}"}, body),
                ({"X-Provider-Key": USER_KEY}, {**body, "messages": "bad"}),
            ):
                async with http.post(f"{url}/v1/chat/completions", json=payload, headers=headers) as resp:
                    seen.append(f"{resp.status} {dict(resp.headers)} {await resp.text()}")
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200
        statuses = [s.split()[0] for s in seen]
        assert statuses == ["401", "502", "403", "200", "400"], seen
        assert anthropic_emu.requests[0].api_key == USER_KEY  # the key did reach the provider...
    finally:
        code = await proc.stop()
    assert code == 0, proc.output
    assert '"gateway_stopped"' in proc.output
    lines = [json.loads(line) for line in proc.output.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    # every failed request's line says why, in the scrubbed words the client got
    assert [(r["status"], r["error"], r.get("error_param"), r["stream"]) for r in requests] == [
        (401, "invalid_api_key", None, False), (502, "upstream_error", None, False),
        (403, "permission_denied", None, False), (200, None, None, False),
        (400, "invalid_request", "messages", False)]
    for line, response in zip(requests, seen, strict=True):
        if line["error"]:
            assert line["error_message"] and json.dumps(line["error_message"])[1:-1] in response
    assert "[redacted]" in requests[0]["error_message"]
    assert (requests[1]["upstream_url"], requests[1]["upstream_cause"]) == (
        f"{anthropic_emu.base_url}/v1/messages", "HTTP 500")
    assert any(line.get("event") == "unknown_fields_ignored" for line in lines)
    for key in (USER_KEY, SERVER_KEY, META_SERVER_KEY):  # ...and nowhere else
        assert key not in proc.output
        assert all(key not in s for s in seen)


async def test_standalone_bridge_reaches_grpc_only_service(emulator_env: dict[str, str]) -> None:
    service = await spawn("service", emulator_env | {"GRPC_PORT": "0"})
    bridge = None
    try:
        await service.wait_for("gateway_started")
        started = json.loads(next(line for line in service.lines if "gateway_started" in line))
        grpc_addr = started["grpc"]
        bridge = await spawn("bridge", {**emulator_env, "SERVICE_ADDR": grpc_addr})
        url = "http://" + (await bridge.wait_for("bridge_started"))["http"]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/v1/chat/completions", json={
                "model": "Llama-3.3-8B-Instruct", "messages": [{"role": "user", "content": "ping"}]}) as resp:
                body = await resp.json()
                assert resp.status == 200, body
                assert body["choices"][0]["message"]["content"] == (
                    "Hello from the Llama-3.3-8B-Instruct emulator. You said: ping")
            async with http.get(f"{url}/readyz") as resp:
                assert resp.status == 200
            assert await service.stop() == 0
            async with http.get(f"{url}/readyz") as resp:
                assert resp.status == 503
            async with http.post(f"{url}/v1/chat/completions", json={
                "model": "Llama-3.3-8B-Instruct", "messages": [{"role": "user", "content": "ping"}]}) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["code"] == "service_unavailable"
    finally:
        if bridge is not None:
            assert await bridge.stop() == 0
        await service.stop()


@pytest.mark.parametrize(("env", "message"), [
    ({"GRPC_PORT": "not-a-port"}, "GRPC_PORT must be an integer"),
    ({"UPSTREAM_TIMEOUT_S": "-3"}, "UPSTREAM_TIMEOUT_S must be between"),
    ({"ANTHROPIC_BASE_URL": "api.anthropic.com"}, "ANTHROPIC_BASE_URL must be an http(s) URL"),
])
async def test_bad_configuration_stops_start_up_with_a_clear_message(env: dict[str, str], message: str) -> None:
    proc = await spawn("service", env)
    code = await asyncio.wait_for(proc.proc.wait(), 30)
    await proc._reader
    assert code == 2
    assert f"configuration error: {message}" in proc.output


async def test_unreachable_upstream_is_logged_with_its_cause_and_a_bare_url(emulator_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # a key-shaped query in the base URL must not reach the log
    base = f"http://127.0.0.1:{port}/relay?token={USER_KEY}"
    proc = await spawn("service", {**emulator_env, "ANTHROPIC_BASE_URL": base})
    try:
        url = f"http://{(await proc.wait_for('gateway_started'))['http']}"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/v1/chat/completions", json={
                    "model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}],
                    "stream": True}) as resp:
                assert resp.status == 502, proc.output
                message = (await resp.json())["error"]["message"]
        await proc.wait_for("request")
    finally:
        assert await proc.stop() == 0
    lines = [json.loads(line) for line in proc.output.splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line["event"] == "request"]
    [attempt] = [line for line in lines if line["event"] == "upstream_attempt_failed"]
    assert (line["status"], line["error"], line["error_message"], line["stream"]) == (
        502, "upstream_error", message, True)
    assert line["upstream_url"] == attempt["url"] == f"http://127.0.0.1:{port}/relay"
    assert line["upstream_cause"] == attempt["cause"]
    assert line["upstream_cause"].startswith(f"ClientConnectorError: Cannot connect to host 127.0.0.1:{port} ")
    assert "Connection refused" in line["upstream_cause"] and attempt["level"] == "warning"
    assert SERVER_KEY not in proc.output and USER_KEY not in proc.output and "token=" not in proc.output


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(("module", "args", "variable", "what"), [
    ("service", [], "GRPC_PORT", "gRPC"),
    ("service", [], "HTTP_PORT", "HTTP"),
    ("service", ["--grpc-only"], "GRPC_PORT", "gRPC"),
    ("bridge", [], "HTTP_PORT", "HTTP"),
])
async def test_a_busy_port_stops_start_up_with_one_clear_line(
    busy_port: int, tmp_path: Path, module: str, args: list[str], variable: str, what: str
) -> None:
    env = {"GRPC_PORT": "0", "HTTP_PORT": "0", variable: str(busy_port), "DATA_DIR": str(tmp_path)}
    code, out, err = await run_to_exit(module, env, *args)
    assert code == 2, (out, err)
    assert err == (f"start-up error: cannot listen for {what} on 127.0.0.1:{busy_port}: address already in use; "
                   f"set {variable} to a free port (0 picks one) or BIND_HOST to another address\n"), err
    assert "Traceback" not in out and "Event loop is closed" not in out


async def test_an_address_not_on_this_machine_names_bind_host(tmp_path: Path) -> None:
    env = {"GRPC_PORT": "0", "HTTP_PORT": "0", "BIND_HOST": "192.0.2.1", "DATA_DIR": str(tmp_path)}
    code, out, err = await run_to_exit("service", env)
    assert code == 2, (out, err)
    assert err.startswith("start-up error: cannot listen for gRPC on 192.0.2.1:0: ") and err.count("\n") == 1
    assert err.endswith("; set BIND_HOST to an address of this machine\n"), err


async def run_to_exit(module: str, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `python -m module args` to its end: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}",
             "LOG_FORMAT": "json", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


JWT_SECRET = "process-test-secret-long-enough-0123456789abcdef"


def alice_headers(sub: str = "alice") -> dict[str, str]:
    import time

    import jwt

    return {"Authorization": "Bearer " + jwt.encode({"sub": sub, "exp": int(time.time()) + 300}, JWT_SECRET,
                                                    algorithm="HS256")}


async def test_sigterm_mid_request_finishes_it_and_keeps_its_usage(
    emulator_env: dict[str, str], anthropic_emu: AnthropicEmulator, tmp_path: Path
) -> None:
    env = {**emulator_env, "JWT_SECRET": JWT_SECRET, "DATA_DIR": str(tmp_path / "data"), "SHUTDOWN_GRACE_S": "10"}
    anthropic_emu.response_delay = 1.5
    proc = await spawn("service", env)
    started = await proc.wait_for("gateway_started")
    url = f"http://{started['http']}"
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "slow one"}]}
    async with aiohttp.ClientSession() as http:
        pending = asyncio.create_task(http.post(f"{url}/v1/chat/completions", json=body, headers=alice_headers()))
        while not anthropic_emu.requests:  # noqa: ASYNC110 - waits for the call to reach the provider
            await asyncio.sleep(0.02)
        proc.proc.send_signal(signal.SIGTERM)
        resp = await pending
        assert resp.status == 200
        assert (await resp.json())["choices"][0]["message"]["content"].startswith("Hello from")
        assert await asyncio.wait_for(proc.proc.wait(), 20) == 0
        await proc._reader
        assert '"gateway_stopping"' in proc.output and '"gateway_stopped"' in proc.output
        # a new process on the same DATA_DIR reads the record the old one flushed on its way out
        anthropic_emu.response_delay = 0
        again = await spawn("service", env)
        try:
            url = f"http://{(await again.wait_for('gateway_started'))['http']}"
            async with http.get(f"{url}/v1/usage", headers=alice_headers()) as resp:
                report = await resp.json()
            assert resp.status == 200 and report["totals"]["requests"] == 1
            assert report["by_model"][0]["model"] == "claude-sonnet-4-5"
        finally:
            assert await again.stop() == 0


async def test_two_gateways_share_one_postgres_ledger(emulator_env: dict[str, str], postgres_dsn: str) -> None:
    env = {**emulator_env, "JWT_SECRET": JWT_SECRET, "DATABASE_URL": postgres_dsn}
    first, second = await spawn("service", env), await spawn("service", env)
    try:
        urls = [f"http://{(await p.wait_for('gateway_started'))['http']}" for p in (first, second)]
        body = {"model": "Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "count me"}]}
        async with aiohttp.ClientSession() as http:
            for url in (urls[0], urls[1], urls[1]):
                async with http.post(f"{url}/v1/chat/completions", json=body, headers=alice_headers()) as resp:
                    assert resp.status == 200
            # each replica writes its own records on its own flush clock (0.5 s): well within the 5 s promise
            await asyncio.sleep(1.0)
            async with http.get(f"{urls[0]}/v1/usage", headers=alice_headers()) as resp:
                final = await resp.json()
        assert final["totals"]["requests"] == 3
        assert final["by_model"] == [{"model": "Llama-3.3-70B-Instruct", "provider": "meta_llama", "requests": 3,
                                      **{k: final["totals"][k] for k in ("prompt_tokens", "completion_tokens",
                                                                        "total_tokens", "cost_usd",
                                                                        "unpriced_requests")}}]
        assert final["totals"]["unpriced_requests"] == 0
    finally:
        assert await first.stop() == 0
        assert await second.stop() == 0
