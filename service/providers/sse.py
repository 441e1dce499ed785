"""An incremental Server-Sent Events decoder: raw bytes in, (event, data) pairs out.

Fed whatever the socket delivers (events may be split anywhere), it keeps the
incomplete tail for the next call. Follows the SSE spec's field rules: `event:`,
`data:` (multi-line joined with newlines), comments (`:`) ignored, CRLF tolerated.
"""

from __future__ import annotations


class SSEDecoder:
    __slots__ = ("_tail", "_event", "_data")

    def __init__(self) -> None:
        self._tail = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()
        events: list[tuple[str | None, str]] = []
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if self._data:
                    events.append((self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value.decode("utf-8", "replace"))
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        return events

    def close(self) -> list[tuple[str | None, str]]:
        """Events left when the stream ends without a final blank line."""
        events = self.feed(b"\n\n") if self._tail or self._data else []
        self._tail = b""
        return events
