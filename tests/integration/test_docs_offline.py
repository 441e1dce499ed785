"""/docs works offline: the page and everything it loads come from the gateway, pinned to one Redoc.

Checked twice: by reading the HTML and fetching what it names, and in a real headless Chromium whose
every network request is recorded while Redoc renders the document.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.resources import files
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest

from bridge.openapi import REDOC_JS_PATH, REDOC_VERSION
from tests.conftest import Running
from tests.support.chromium import Browser, Page, start_chromium

REDOC_JS = (files("star_openapi_redoc") / "templates" / "redoc" / "js" / "redoc.standalone.js").read_bytes()
CONTENT_TYPES = {".js": "text/javascript", ".svg": "image/svg+xml", ".json": "application/json"}


class Links(HTMLParser):
    """Every URL the page refers to: src and href attributes, and Redoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value is not None]


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url[len("blob:"):] if url.startswith("blob:") else url)  # a blob: URL names its origin
    return parts.scheme, parts.netloc


async def test_docs_and_everything_it_names_come_from_the_gateway(
        gateway: Running, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{gateway.url}/docs") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
    assert "://" not in html, "no absolute URL: a CDN, web fonts or any other host"
    parser = Links()
    parser.feed(html)
    urls = [urljoin(f"{gateway.url}/docs", u) for u in parser.urls]
    assert any(u.endswith(".js") for u in urls) and any(u.endswith("/openapi.json") for u in urls)
    for url in urls:
        assert origin(url) == origin(gateway.url), url
        async with http.get(url) as resp:
            body = await resp.read()
        assert resp.status == 200, url
        assert resp.content_type == CONTENT_TYPES[url[url.rindex("."):]], url
        if url.endswith(".js"):
            assert body == REDOC_JS, "the served bundle is the installed package's file, byte for byte"
            assert resp.headers["Content-Encoding"] == "gzip", "2.3 MB of JavaScript goes compressed"
            assert REDOC_VERSION in url, "the bundle's URL carries its version, so it can be cached for good"
            assert f"Version: {REDOC_VERSION}" in body[:300].decode(), "the bundle is the Redoc the URL says"
            assert "immutable" in resp.headers["Cache-Control"] and "max-age=31536000" in resp.headers["Cache-Control"]
            async with http.get(url, headers={"If-None-Match": resp.headers["ETag"]}) as again:
                assert again.status == 304


@pytest.fixture
def chromium() -> Iterator[Browser]:
    browser = start_chromium()
    yield browser
    browser.stop()


async def rendered_text(page: Page, expression: str, wanted: list[str], within_s: float = 60.0) -> str:
    """Polls `expression` until its text holds every `wanted` string (or the time is up)."""
    text = ""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = await page.evaluate(expression) or ""
        if all(w in text for w in wanted):
            break
        await asyncio.sleep(0.25)
    return str(text)


async def click(page: Page, selector: str) -> None:
    box = await page.evaluate(f"(r => [r.x + r.width / 2, r.y + r.height / 2])("
                              f"document.querySelector({selector!r}).getBoundingClientRect())")
    for kind in ("mousePressed", "mouseReleased"):
        await page.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


@pytest.mark.parametrize("gateway", ["inprocess"], indirect=True)
async def test_a_real_browser_renders_docs_with_no_request_off_the_gateway(
        gateway: Running, chromium: Browser, http: aiohttp.ClientSession) -> None:
    page = await Page.open(chromium, http)
    try:
        for domain in ("Network", "Page", "Log"):
            await page.send(f"{domain}.enable")
        await page.send("Page.navigate", url=f"{gateway.url}/docs")
        wanted = ["Chat-completion gateway", "/v1/chat/completions", "listModels", "getUsage"]
        text = await rendered_text(page, "document.body ? document.body.innerText : ''", wanted)
        assert all(w in text for w in wanted), text[:2000]
        # the search runs in a worker: type into it, as a reader would
        await click(page, '[data-component-name="icons/SearchIcon/SearchIcon"]')
        await asyncio.sleep(0.5)
        await page.send("Input.insertText", text="usage")
        found = await rendered_text(page, "[...document.querySelectorAll('[data-component-name=\"Search/SearchItem\"]')]"
                                          ".map(e => e.innerText).join(' ')", ["/v1/usage"], within_s=15)
        assert "/v1/usage" in found, found
        # what a page sends as the reader leaves (Redoc's telemetry, when on, flushes on pagehide), and late loads
        await page.evaluate("window.dispatchEvent(new Event('pagehide')); document.dispatchEvent(new Event('pagehide'))")
        await asyncio.sleep(2)
    finally:
        await page.close()
    urls = [u for u in page.requested_urls() if u != "about:blank"]
    assert f"{gateway.url}/docs" in urls and f"{gateway.url}/openapi.json" in urls
    assert f"{gateway.url}{REDOC_JS_PATH}" in urls
    # The page's Content-Security-Policy stops, inside the browser, the one thing Redoc 3.0.1 always reaches
    # for (Redocly's logo on their CDN): such a request is listed, then failed with blockedReason "csp".
    # A fetch the policy refuses (telemetry, say) is not listed at all, only logged: so no other refusal either.
    blocked = {e["params"]["requestId"] for e in page.events
               if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason") == "csp"}
    sent = [e["params"]["request"]["url"] for e in page.events
            if e["method"] == "Network.requestWillBeSent" and e["params"]["requestId"] not in blocked]
    off_gateway = [u for u in sent if u != "about:blank" and origin(u) != origin(gateway.url)]
    assert not off_gateway, off_gateway
    refusals = [e["params"]["entry"]["text"] for e in page.events if e["method"] == "Log.entryAdded"
                and "Content Security Policy" in e["params"]["entry"]["text"]]
    assert all("https://cdn.redoc.ly/redoc/logo-mini" in r for r in refusals), refusals
