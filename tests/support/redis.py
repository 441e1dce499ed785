"""A throwaway Redis server on a loopback port, for the limits tests.

Installs Debian's `redis-server` package when the binary is not on PATH (CI machines start without it),
and runs it on a free 127.0.0.1 port in a temporary folder, without persistence. `stop()` and `start()`
take it down and bring it back on the same port (empty: nothing is saved) to stage an outage, `pause()` and
`resume()` freeze and thaw it (a hung server); `close()` stops it for good and removes the folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import free_port


def _binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server was installed but is not on PATH")
    return found


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # up (a password server wants AUTH)
    except OSError:
        return False


@dataclass
class RedisServer:
    binary: str
    root: Path
    port: int
    password: str | None = field(default=None, repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server (again) on its port and wait until it answers PING."""
        if self.running:
            return
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 - the child process holds it
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
             *(["--requirepass", self.password] if self.password else [])],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _answers(self.port):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.root / 'redis.log'}")

    def stop(self) -> None:
        """Stop the server process; `start()` brings it back on the same port (with no data)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers, like a hung host."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(b"FLUSHALL\r\nSCRIPT FLUSH\r\n")
            got = b""
            while got.count(b"\r\n") < 2:
                chunk = conn.recv(64)
                if not chunk:
                    break
                got += chunk

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis(password: str | None = None) -> RedisServer:
    server = RedisServer(_binary(), Path(tempfile.mkdtemp(prefix="gateway-redis-")), free_port(), password)
    server.start()
    return server
