"""The real entry points as separate processes: `python -m service` (what `make run` starts) and
`python -m bridge`; configuration errors, graceful SIGTERM, and no key in any log line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.emulators import AnthropicEmulator, Fault, LlamaEmulator

ROOT = Path(__file__).resolve().parents[2]
SERVER_KEY = "sk-ant-api03-process-test-server-key-XYZ123"
META_SERVER_KEY = "LLM|424242|process-test-meta-key-QRS789"
USER_KEY = "sk-ant-api03-process-test-users-own-key-ABC456"


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
    assert sum(1 for line in lines if line.get("event") == "request") == 5
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
