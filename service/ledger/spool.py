"""The ledger's spool: an append-only file of JSON lines (one usage record each, oldest first) under DATA_DIR.

Records go there when the in-memory buffer is full (the store is slow or down) and when the gateway stops
while the store is down; they are read back in order, and the file is removed only once every record in
it has landed. Lines are ASCII (a lone surrogate is written as its escape), each ends with a newline and
is flushed to disk before `append` returns. A DATA_DIR belongs to one gateway process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _sync(path: Path, lines: Iterable[str], mode: str) -> None:
    with path.open(mode, encoding="ascii", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def append_line(path: Path, line: str) -> None:
    """Append one ASCII line to `path`, on disk before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _sync(path, [line], "a")


class Spool:
    """Lines are taken (`take`) before they are written to the store and dropped (`landed`) after."""

    def __init__(self, path: Path):
        self.path = path
        self._read = 0  # byte offset of the first line not yet taken
        self._landed = 0  # byte offset of the first line not yet landed
        self.pending = 0  # lines not yet landed
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):  # a line torn by a crash: end it, so the next append starts clean
                with path.open("ab") as f:
                    f.write(b"\n")
            self.pending = sum(1 for line in data.splitlines() if line.strip())

    @property
    def unread(self) -> bool:
        return self.path.exists() and self._read < self.path.stat().st_size

    def append(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _sync(self.path, lines, "a")
        self.pending += len(lines)

    def take(self, limit: int) -> tuple[list[str], int]:
        """Up to `limit` untaken lines, oldest first, and the offset that follows them."""
        lines: list[str] = []
        with self.path.open("rb") as f:
            f.seek(self._read)
            while len(lines) < limit:
                raw = f.readline()
                if not raw:
                    break
                if raw.strip():
                    lines.append(raw.decode("ascii", "replace").rstrip("\n"))
            end = f.tell()
        self._read = end
        return lines, end

    def skipped(self, count: int) -> None:
        """`count` taken lines will never land (unreadable): no longer pending."""
        self.pending = max(0, self.pending - count)

    def landed(self, count: int, end: int | None = None) -> None:
        """`count` taken lines landed; with `end`, every line before that offset has. When nothing is left,
        the file is removed."""
        self.pending = max(0, self.pending - count)
        if end is not None:
            self._landed = end
            if self._landed >= self.path.stat().st_size:
                self.path.unlink()
                self._read = self._landed = 0
                self.pending = 0

    def rest(self) -> list[str]:
        """The lines not yet taken."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self._read)
            return [raw.decode("ascii", "replace").rstrip("\n") for raw in f if raw.strip()]

    def rewrite(self, lines: list[str]) -> None:
        """Replace the whole spool with `lines` (written to a new file, then renamed over the old one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_name(self.path.name + ".new")
        _sync(fresh, lines, "w")
        os.replace(fresh, self.path)
        self._read = self._landed = 0
        self.pending = len(lines)
