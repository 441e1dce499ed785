"""A headless Chromium driven over the DevTools protocol, for tests of pages as a real browser loads them.

Installs Debian's `chromium` package when /usr/bin/chromium is missing (CI machines start without it),
starts it on a throwaway profile with a remote-debugging port of its choosing, and talks to its page
over a websocket with aiohttp: no driver, no extra Python package. Chromium's own background traffic
(component updates, sync, field trials) is switched off so that what the page loads is all there is.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-proxy-server", "--no-default-browser-check",
         "--window-size=1280,900", "--remote-debugging-port=0"]


def ensure_chromium() -> Path:
    """The Chromium binary, installed from Debian first if it is not there (idempotent)."""
    if not CHROMIUM.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env,
                       stdout=subprocess.DEVNULL, timeout=900)
        if not CHROMIUM.exists():
            raise RuntimeError("the chromium package was installed but /usr/bin/chromium is missing")
    return CHROMIUM


@dataclass
class Browser:
    process: subprocess.Popen[bytes]
    profile: Path
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Ends Chromium (its whole process group) and removes the profile."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 15)
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, 9)
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def start_chromium(timeout: float = 60.0) -> Browser:
    """A headless Chromium in its own process group; its DevTools port is read from DevToolsActivePort."""
    binary = ensure_chromium()
    profile = Path(tempfile.mkdtemp(prefix="gateway-chromium-"))
    process = subprocess.Popen([str(binary), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    browser = Browser(process, profile, 0)
    active_port = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode} before opening DevTools")
            lines = active_port.read_text().splitlines() if active_port.exists() else []
            if lines and lines[0].strip().isdigit():
                browser.port = int(lines[0])
                return browser
            time.sleep(0.1)
        raise TimeoutError(f"no {active_port} after {timeout}s")
    except BaseException:
        browser.stop()
        raise


@dataclass
class Page:
    """One page's DevTools session: `send` a command and await its result; events pile up in `events`."""

    ws: aiohttp.ClientWebSocketResponse
    events: list[dict[str, Any]] = field(default_factory=list)
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, browser: Browser, session: aiohttp.ClientSession, wait_s: float = 30.0) -> Page:
        deadline = time.monotonic() + wait_s
        while True:  # the first page can take a moment to be listed
            async with session.get(f"{browser.http_url}/json/list", timeout=aiohttp.ClientTimeout(total=5)) as r:
                pages = [t for t in await r.json() if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        if not pages:
            raise TimeoutError("chromium lists no page target")
        ws = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0,
                                      timeout=aiohttp.ClientWSTimeout(ws_close=5))
        page = cls(ws)
        page._reader = asyncio.create_task(page._read())
        return page

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = msg.json()
                future = self._pending.pop(data["id"], None) if "id" in data else None
                if future is not None and not future.done():
                    future.set_result(data)
                elif "method" in data:
                    self.events.append(data)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("DevTools websocket closed"))

    async def send(self, method: str, reply_s: float = 30.0, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, reply_s)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)
