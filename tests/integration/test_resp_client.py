"""The limits' own Redis client (service/limits/resp.py) against a real redis-server: the RESP2 replies it
reads, AUTH and SELECT from the URL, scripts after a flush, order of commands not waited for, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from service.limits.resp import (
    _INCOMPLETE,
    RedisConnectionError,
    RedisError,
    RespClient,
    Script,
    _parse_url,
    pack,
    parse,
)
from tests.support import free_port
from tests.support.redis import RedisServer, start_redis

INCR_BY = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")


def test_pack_is_an_array_of_bulk_strings() -> None:
    assert pack(["SET", "k", 12, b"\xff"]) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$1\r\n\xff\r\n"


@pytest.mark.parametrize(("wire", "value"), [
    (b":-42\r\n", -42),
    (b"+OK\r\n", "OK"),
    (b"$5\r\nab\r\nc\r\n", b"ab\r\nc"),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*3\r\n:1\r\n*2\r\n$1\r\nx\r\n:2\r\n$0\r\n\r\n", [1, [b"x", 2], b""]),
])
def test_parse_reads_every_reply_type_and_waits_for_whole_replies(wire: bytes, value: object) -> None:
    assert parse(wire + b":7\r\n", 0) == (value, len(wire))
    for cut in range(len(wire)):  # any prefix is incomplete, not a wrong value
        assert parse(wire[:cut], 0) == (_INCOMPLETE, 0)


def test_parse_gives_error_replies_as_values() -> None:
    got, pos = parse(b"-NOSCRIPT No matching script\r\n", 0)
    assert isinstance(got, RedisError) and str(got) == "NOSCRIPT No matching script" and pos == 30


@pytest.mark.parametrize(("url", "want"), [
    ("redis://cache:6380/2", {"host": "cache", "port": 6380, "db": 2, "password": None, "username": None}),
    ("redis://:s%40cret@127.0.0.1", {"host": "127.0.0.1", "port": 6379, "db": 0, "password": "s@cret"}),
    ("redis://gw:pw@h/0", {"username": "gw", "password": "pw", "db": 0}),
    ("unix:///run/redis.sock?db=3", {"unix": "/run/redis.sock", "db": 3}),
])
def test_urls(url: str, want: dict[str, object]) -> None:
    target = _parse_url(url)
    assert {k: target[k] for k in want} == want
    assert target["ssl"] is None
    assert _parse_url("rediss://h:6380")["ssl"] is not None


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[RespClient]:
    c = RespClient(redis_url, timeout_s=1.0, scripts=(INCR_BY,))
    yield c
    c.close()


async def test_calls_and_error_replies(client: RespClient) -> None:
    assert await client.call("PING") == "PONG"
    assert await client.call("SET", "k", "v") == "OK"
    assert await client.call("GET", "k") == b"v"
    assert await client.call("GET", "missing") is None
    assert await client.call("RPUSH", "list", "a") == 1
    with pytest.raises(RedisError, match="WRONGTYPE"):
        await client.call("INCR", "list")
    assert await client.call("PING") == "PONG"  # an error reply leaves the connection in step


async def test_commands_not_waited_for_run_before_the_next_call(client: RespClient) -> None:
    errors: list[BaseException] = []
    await client.call("PING")
    for _ in range(500):
        client.evalsha_nowait(INCR_BY, ["n"], [2], errors.append)
    assert await client.call("GET", "n") == b"1000"  # written later on the same connection: runs later
    await client.drain()
    assert errors == []


async def test_scripts_survive_a_flush_and_a_restart(client: RespClient, redis_server: RedisServer) -> None:
    assert await client.evalsha(INCR_BY, ["n"], [1]) == 1
    await client.call("SCRIPT", "FLUSH")
    assert await client.evalsha(INCR_BY, ["n"], [1]) == 2  # NOSCRIPT: sent again as EVAL
    errors: list[BaseException] = []
    await client.call("SCRIPT", "FLUSH")
    client.evalsha_nowait(INCR_BY, ["n"], [1], errors.append)
    await client.drain()
    await client.drain()  # the EVAL sent after the NOSCRIPT answer
    assert await client.call("GET", "n") == b"3" and errors == []
    redis_server.stop()
    redis_server.start()  # empty, no scripts: loaded again on connect
    with pytest.raises(RedisConnectionError):
        await client.call("PING")  # the old connection is gone
    assert await client.evalsha(INCR_BY, ["n"], [5]) == 5


async def test_password_and_database_from_the_url() -> None:
    server = start_redis(password="pa:ss")
    try:
        url = f"redis://:pa%3Ass@127.0.0.1:{server.port}/5"
        c = RespClient(url, timeout_s=1.0)
        assert await c.call("SET", "k", "v") == "OK"
        assert await c.call("CLIENT", "INFO") and b" db=5 " in await c.call("CLIENT", "INFO")
        c.close()
        wrong = RespClient(f"redis://:nope@127.0.0.1:{server.port}/0", timeout_s=1.0)
        with pytest.raises(RedisError, match="WRONGPASS"):
            await wrong.call("PING")
        wrong.close()
    finally:
        server.close()


async def test_unreachable_and_hung_servers_fail_within_the_deadline(redis_server: RedisServer,
                                                                     redis_url: str) -> None:
    loop = asyncio.get_running_loop()
    c = RespClient(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
        await c.call("PING")
    c = RespClient(redis_url, timeout_s=0.2)
    assert await c.call("PING") == "PONG"
    redis_server.pause()
    try:
        started = loop.time()
        with pytest.raises(TimeoutError):
            await c.call("PING")
        assert 0.2 <= loop.time() - started < 0.4
    finally:
        redis_server.resume()
    assert await c.call("PING") == "PONG"  # a fresh connection: the late PONG is not taken for this one
    c.close()


async def test_a_held_command_goes_out_with_the_next_one_or_after_the_hold(client: RespClient) -> None:
    errors: list[BaseException] = []
    await client.call("PING")
    client.evalsha_nowait(INCR_BY, ["held"], [1], errors.append, hold_s=60.0)
    await asyncio.sleep(0.05)
    probe = RespClient(client._target_url, timeout_s=1.0)  # another connection: nothing has reached Redis
    assert await probe.call("GET", "held") is None
    assert await client.call("GET", "held") == b"1"  # sent ahead of this call, in one write
    client.evalsha_nowait(INCR_BY, ["held"], [1], errors.append, hold_s=0.05)
    await asyncio.sleep(0.2)  # no other call: it went out after its hold
    assert await probe.call("GET", "held") == b"2"
    probe.close()
    assert errors == []
