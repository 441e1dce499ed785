"""A lean Redis client for the limits: one pipelined connection speaking RESP2, EVALSHA and little else.

Why not redis-py's asyncio client (used here before): the limits call Redis once on the request path, so its
client cost is the limits' cost. Measured on this 2-core machine with uvloop (`bench/limits_cost.py`), a PING
round trip took 0.12 ms through redis-py's pool and 0.08 ms through one asyncio protocol. And redis-py's pool
spreads calls over several connections, so a command sent without waiting for its answer may be overtaken
by the next one; on one connection Redis runs commands in the order they were written. That order lets the
finishing call (charge + release) be sent without waiting for it on the response path, even held back to
go out with the next admission in one write: that admission, behind it on the same connection, sees it.

What it does: `redis://[user:password@]host[:port][/db]`, `rediss://` (TLS, the system's CA store) and
`unix:///path[?db=N]`; AUTH and SELECT on connect; replies of every RESP2 type; EVALSHA that falls back to
EVAL when the server has lost its script cache (the scripts given are loaded on every connect, so that
happens only after a SCRIPT FLUSH on a live connection). Every command has a deadline (`timeout_s`): a
command not answered in time fails with `TimeoutError` and the connection is dropped (its later replies
would belong to nobody), so the next call connects afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class RedisError(Exception):
    """An error reply from Redis (`-ERR ...`)."""


class RedisConnectionError(ConnectionError):
    """Redis cannot be reached, or the connection was lost with commands outstanding."""


class Script:
    """A Lua script and its SHA1, as EVALSHA wants it."""

    __slots__ = ("text", "sha")

    def __init__(self, text: str):
        self.text = text.encode()
        self.sha = hashlib.sha1(self.text).hexdigest().encode()


def pack(args: Sequence[Any]) -> bytes:
    """One command in RESP2: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


_INCOMPLETE = object()


def parse(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One reply starting at `pos`: (value, position after it), or (_INCOMPLETE, pos) when more bytes are
    needed. Error replies come back as `RedisError` values (inside arrays too), not raised."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind = buf[pos]
    line = bytes(buf[pos + 1:end])
    after = end + 2
    if kind == 58:  # ':'
        return int(line), after
    if kind == 43:  # '+'
        return line.decode(), after
    if kind == 45:  # '-'
        return RedisError(line.decode(errors="replace")), after
    if kind == 36:  # '$'
        n = int(line)
        if n < 0:
            return None, after
        if len(buf) < after + n + 2:
            return _INCOMPLETE, pos
        return bytes(buf[after:after + n]), after + n + 2
    if kind == 42:  # '*'
        n = int(line)
        if n < 0:
            return None, after
        items = []
        for _ in range(n):
            item, after = parse(buf, after)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, after
    raise RedisConnectionError(f"unexpected reply type {chr(kind)!r} from Redis")


class _Protocol(asyncio.Protocol):
    """Matches replies to the commands written, in order (Redis answers one connection in order)."""

    def __init__(self, on_lost: Callable[[_Protocol], None]):
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self._held: list[bytes] = []  # written, not yet sent: see write()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._buf = bytearray()
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        try:
            while self.waiting:
                value, nxt = parse(buf, pos)
                if value is _INCOMPLETE:
                    break
                pos = nxt
                fut = self.waiting.popleft()
                if not fut.done():  # a command past its deadline is done already: its reply is dropped
                    if isinstance(value, RedisError):
                        fut.set_exception(value)
                    else:
                        fut.set_result(value)
        except (ValueError, RedisConnectionError):
            self.abort()
            return
        del buf[:pos]

    def write(self, data: bytes, hold_s: float | None = None) -> asyncio.Future[Any]:
        """Write one packed command; its reply is the future's result. With `hold_s` the command is held
        back and goes out with the next command written, or after `hold_s` if none comes first: one
        wake-up of Redis for both, and still in order."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.transport is None or self.transport.is_closing():
            fut.set_exception(RedisConnectionError("connection to Redis lost"))
            return fut
        self.waiting.append(fut)
        if hold_s is not None:
            self._held.append(data)
            if self._flush_timer is None:
                self._flush_timer = asyncio.get_running_loop().call_later(hold_s, self.flush)
        elif self._held:
            self._held.append(data)
            self.flush()
        else:
            self.transport.write(data)
        return fut

    def flush(self) -> None:
        """Write the commands held back."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._held and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._held))
        self._held.clear()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.flush()  # drops what was held: its futures fail below
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(RedisConnectionError("connection to Redis lost"))
        self._on_lost(self)


class RespClient:
    def __init__(self, url: str, *, timeout_s: float = 0.1, scripts: Sequence[Script] = ()):
        self._timeout_s = timeout_s
        self._target_url = url
        self._scripts = tuple(scripts)  # loaded on every connect, so EVALSHA finds them after a restart
        self._target = _parse_url(url)
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        t = self._target

        async def open_() -> _Protocol:
            factory = lambda: _Protocol(self._lost)  # noqa: E731
            if t["unix"]:
                _, proto = await loop.create_unix_connection(factory, t["unix"])
            else:
                _, proto = await loop.create_connection(factory, t["host"], t["port"], ssl=t["ssl"])
            try:
                if t["password"] is not None:
                    auth = ["AUTH", t["username"], t["password"]] if t["username"] else ["AUTH", t["password"]]
                    await proto.write(pack(auth))
                if t["db"]:
                    await proto.write(pack(["SELECT", t["db"]]))
                if self._scripts:
                    await asyncio.gather(*(proto.write(pack([b"SCRIPT", b"LOAD", s.text])) for s in self._scripts))
            except BaseException:
                proto.abort()
                raise
            return proto

        try:
            return await asyncio.wait_for(open_(), self._timeout_s)
        except OSError as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc.strerror or exc}") from None

    def _lost(self, proto: _Protocol) -> None:
        if self._proto is proto:
            self._proto = None

    async def connection(self) -> _Protocol:
        """The open connection, connecting first if there is none (concurrent callers share one attempt)."""
        if self._proto is not None:
            return self._proto
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            try:
                self._proto = await asyncio.shield(self._connecting)
            finally:
                self._connecting = None
            return self._proto
        return await asyncio.shield(self._connecting)

    def send(self, *args: Any) -> asyncio.Future[Any]:
        """Write one command now when connected (its reply is the future's result); otherwise after connecting."""
        if self._proto is not None:
            return self._proto.write(pack(args))
        return asyncio.ensure_future(self._send_later(pack(args)))

    async def _send_later(self, data: bytes) -> Any:
        return await (await self.connection()).write(data)

    async def call(self, *args: Any) -> Any:
        """Send one command and wait for its reply, at most `timeout_s` (then TimeoutError, connection dropped)."""
        proto = self._proto or await self.connection()
        fut = proto.write(pack(args))
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self._timeout_s, self._expire, fut, proto)
        try:
            return await fut
        finally:
            timer.cancel()

    def _expire(self, fut: asyncio.Future[Any], proto: _Protocol) -> None:
        if not fut.done():
            fut.set_exception(TimeoutError(f"Redis did not answer within {self._timeout_s:g} s"))
            proto.abort()  # its late reply would be matched to the next command: start afresh
            self._lost(proto)

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self.call(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.call(b"EVAL", script.text, len(keys), *keys, *args)

    def evalsha_nowait(self, script: Script, keys: Sequence[str], args: Sequence[Any],
                       on_error: Callable[[BaseException], None], hold_s: float | None = None) -> None:
        """Write EVALSHA and return; the reply is checked later (`on_error` on failure, EVAL on NOSCRIPT).
        Commands written afterwards on this client run after it in Redis. With `hold_s` it goes out with
        the next command, or after `hold_s` (see `_Protocol.write`)."""
        if self._proto is not None:
            fut = self._proto.write(pack((b"EVALSHA", script.sha, len(keys), *keys, *args)), hold_s)
        else:
            fut = self.send(b"EVALSHA", script.sha, len(keys), *keys, *args)

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is None:
                return
            if isinstance(exc, RedisError) and str(exc).startswith("NOSCRIPT"):
                again = self.send(b"EVAL", script.text, len(keys), *keys, *args)
                again.add_done_callback(lambda g: None if g.cancelled() or g.exception() is None
                                        else on_error(g.exception()))  # type: ignore[arg-type]
                return
            on_error(exc)

        fut.add_done_callback(done)

    async def drain(self, timeout_s: float = 1.0) -> None:
        """Send what is held back, then wait (at most `timeout_s`) for the answers to every command so far."""
        if self._proto is not None:
            self._proto.flush()
        if self._proto is not None and self._proto.waiting:
            await asyncio.wait(list(self._proto.waiting), timeout=timeout_s)

    def close(self) -> None:
        if self._proto is not None:
            self._proto.abort()
            self._proto = None
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None


def _parse_url(url: str) -> dict[str, Any]:
    u = urlsplit(url)
    query = parse_qs(u.query)
    target: dict[str, Any] = {"unix": None, "host": None, "port": None, "ssl": None,
                              "username": unquote(u.username) if u.username else None,
                              "password": unquote(u.password) if u.password is not None else None, "db": 0}
    if u.scheme == "unix":
        target["unix"] = u.path
        target["db"] = int(query.get("db", ["0"])[0])
    else:
        target["host"] = u.hostname or "localhost"
        target["port"] = u.port or 6379
        if u.scheme == "rediss":
            target["ssl"] = ssl.create_default_context()
        path = u.path.lstrip("/")
        target["db"] = int(path or query.get("db", ["0"])[0])
    return target
