"""Shared fixtures: provider emulators and the real gateway, all on loopback port 0.

`gateway` is parametrized over the bridge's two transports: `inprocess` (the
one-process default, bridge calling the core directly) and `grpc` (the service
with gRPC only, and a separate bridge app reaching it over a real channel).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import grpc
import pytest

from bridge.app import create_app, start_http
from service.config import Settings
from service.gateway import Gateway, start_gateway
from tests.emulators import AnthropicEmulator, LlamaEmulator
from tests.support.postgres import PostgresServer, start_postgres
from tests.support.redis import RedisServer, start_redis

ANTHROPIC_KEY = "sk-ant-test-server-side-test-key-0001"
META_KEY = "LLM|test|server-side-test-key-0001"


@pytest.fixture
async def anthropic_emu() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator() as emu:
        yield emu


@pytest.fixture
async def llama_emu() -> AsyncIterator[LlamaEmulator]:
    async with LlamaEmulator() as emu:
        yield emu


@pytest.fixture
def settings(anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        usage_flush_interval_s=0.05,
        grpc_port=0,
        http_port=0,
        provider_env={"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "META_API_KEY": META_KEY,
                      "ANTHROPIC_BASE_URL": anthropic_emu.base_url, "META_API_BASE_URL": llama_emu.base_url},
        upstream_timeout_s=5.0,
        upstream_max_retries=2,
        max_request_bytes=256 * 1024,
        shutdown_grace_s=1.0,
    )


@dataclass
class Running:
    url: str  # REST base URL
    grpc_target: str
    transport: str
    gateway: Gateway


async def run_gateway(settings: Settings, transport: str) -> tuple[Running, list]:
    if transport == "inprocess":
        gw = await start_gateway(settings)
        return Running(f"http://127.0.0.1:{gw.http_port}", f"127.0.0.1:{gw.grpc_port}", transport, gw), []
    gw = await start_gateway(settings, http=False)
    bridge_settings = dataclasses.replace(settings, service_addr=f"127.0.0.1:{gw.grpc_port}")
    runner, port = await start_http(create_app(bridge_settings), "127.0.0.1", 0)
    return Running(f"http://127.0.0.1:{port}", f"127.0.0.1:{gw.grpc_port}", transport, gw), [runner]


@pytest.fixture(params=["inprocess", "grpc"])
async def gateway(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Running]:
    running, runners = await run_gateway(settings, request.param)
    yield running
    for runner in runners:
        await runner.cleanup()
    await running.gateway.stop(grace=0.5)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


async def fresh_database(server: PostgresServer) -> str:
    """The DSN of a new, empty database on `server`."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def postgres_dsn(postgres_server: PostgresServer) -> str:
    return await fresh_database(postgres_server)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server (installed with apt-get when missing) for the session, on a loopback port."""
    server = start_redis()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's Redis, running and emptied for this test."""
    redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


JWT_SECRET = "threaded-gateway-test-secret-0123456789abcdef"


@dataclass
class ThreadedGateway:
    url: str
    loop: asyncio.AbstractEventLoop
    anthropic: AnthropicEmulator
    llama: LlamaEmulator


@pytest.fixture(scope="module")
def threaded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    """Emulators and a one-process gateway on an event loop of their own thread, for synchronous
    drivers (hypothesis, schemathesis). JWTs signed with JWT_SECRET verify."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[AnthropicEmulator, LlamaEmulator, Running]:
        anthropic_emu, llama_emu = AnthropicEmulator(), LlamaEmulator()
        await anthropic_emu.start()
        await llama_emu.start()
        for emu in (anthropic_emu, llama_emu):
            emu.record_requests = False
        cfg = Settings(grpc_port=0, http_port=0,
                       provider_env={"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "META_API_KEY": META_KEY,
                                     "ANTHROPIC_BASE_URL": anthropic_emu.base_url,
                                     "META_API_BASE_URL": llama_emu.base_url},
                       upstream_timeout_s=5.0, upstream_max_retries=0, max_request_bytes=256 * 1024,
                       jwt_secret=JWT_SECRET, data_dir=str(tmp_path_factory.mktemp("threaded")))
        running, _ = await run_gateway(cfg, "inprocess")
        return anthropic_emu, llama_emu, running

    anthropic_emu, llama_emu, running = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    yield ThreadedGateway(running.url, loop, anthropic_emu, llama_emu)

    async def stop() -> None:
        await running.gateway.stop(grace=0.1)
        await anthropic_emu.stop()
        await llama_emu.stop()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Gateway]:
    gw = await start_gateway(settings, http=False)
    yield gw
    await gw.stop(grace=0.5)


@pytest.fixture
async def channel(service: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as ch:
        yield ch
