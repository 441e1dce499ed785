"""Local executors for the tools the examples give the model (the guide: "your client must execute the tools").

* ZeroDB stand-ins on SQLite files in ``EXAMPLES_DATA_DIR`` (default ``./data/examples``):
  ``zerodb_create_table`` / ``zerodb_insert_rows`` / ``zerodb_query_table`` / ``zerodb_semantic_search``
  in ``zerodb.sqlite3``, ``zerodb_store_memory`` / ``zerodb_search_memory`` in ``memory.sqlite3``.
* Agent tools confined to ``EXAMPLES_SANDBOX`` (default ``EXAMPLES_DATA_DIR/sandbox``): ``file_tool``,
  ``bash_tool`` (allow-listed commands only, no shell, with a timeout), ``testing_tool`` (pytest/unittest).
* ``http_tool``: GET/HEAD to allow-listed hosts only (``EXAMPLES_HTTP_ALLOW``, default loopback).

The sandbox is a folder, not an isolation boundary: tests the model writes are real Python code run with
this interpreter. Use a throw-away folder (or a container) for it.

Each executor takes the decoded arguments dict and returns a JSON-serialisable dict, or raises ToolError
with a message for the model.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from agent_loop import ToolError

OUTPUT_LIMIT = 4000  # characters of stdout/stderr/test output returned to the model
READ_LIMIT = 100_000  # bytes file_tool reads at most
MAX_TIMEOUT_S = 120


#: Where the examples keep their state unless EXAMPLES_DATA_DIR says otherwise: relative to the working
#: directory, like the gateway's own DATA_DIR (./data). Run from the repository root (as the README says), it
#: is ./data/examples, inside the git-ignored ./data and so never in the source tree; the SQLite files persist
#: from run to run (Example 3's memories) and stay easy to inspect.
DEFAULT_DATA_DIR = "./data/examples"


def data_dir() -> Path:
    """``EXAMPLES_DATA_DIR`` (an empty value counts as unset), else ``./data/examples``; created if missing."""
    path = Path(os.environ.get("EXAMPLES_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sandbox_dir() -> Path:
    """``EXAMPLES_SANDBOX``, else the ``sandbox`` folder of ``data_dir()``; created if missing."""
    raw = os.environ.get("EXAMPLES_SANDBOX")
    path = Path(raw).resolve() if raw else data_dir() / "sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _require_str(args: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = args.get(key)
    if value is None:
        if required:
            raise ToolError(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise ToolError(f"'{key}' must be a string")
    return value


def _limit(args: dict[str, Any], default: int, maximum: int = 1000) -> int:
    value = args.get("limit", default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError("'limit' must be a positive integer")
    return min(value, maximum)


def _truncate(text: str, limit: int = OUTPUT_LIMIT, keep: str = "tail") -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    if keep == "tail":
        return f"[... {cut} characters truncated ...]\n" + text[-limit:]
    return text[:limit] + f"\n[... {cut} characters truncated ...]"


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS}


STOPWORDS = frozenset(
    "a an the and or but of to in on at for with by from is are was were be been am i me my you your we our "
    "it its this that these those do does did what which who whom how when where why".split()
)

# --------------------------------------------------------------------------------------------------
# ZeroDB tables on SQLite
# --------------------------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# declared type words -> SQLite column type; constraint words allowed after the type
_SQL_TYPES = {
    "TEXT": "TEXT", "STRING": "TEXT", "VARCHAR": "TEXT", "CHAR": "TEXT", "UUID": "TEXT", "JSON": "TEXT",
    "TIMESTAMP": "TEXT", "DATETIME": "TEXT", "DATE": "TEXT", "INTEGER": "INTEGER", "INT": "INTEGER",
    "BIGINT": "INTEGER", "BOOLEAN": "INTEGER", "BOOL": "INTEGER", "REAL": "REAL", "FLOAT": "REAL",
    "DOUBLE": "REAL", "NUMBER": "REAL", "NUMERIC": "NUMERIC", "OBJECT": "TEXT", "ARRAY": "TEXT", "BLOB": "BLOB",
}
_CONSTRAINTS = {"PRIMARY KEY": "PRIMARY KEY", "NOT NULL": "NOT NULL", "UNIQUE": "UNIQUE"}


def _ident(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _IDENT.match(name) or name.lower().startswith("_zerodb"):
        raise ToolError(f"Invalid {what} {name!r}: use letters, digits and underscores")
    return name


def _column_type(column: str, spec: Any) -> tuple[str, str]:
    """(SQLite column definition, declared type) for one schema entry: "UUID PRIMARY KEY" or {"type": ...}."""
    if isinstance(spec, dict):
        declared = str(spec.get("type", "TEXT"))
        extra = " PRIMARY KEY" if spec.get("primary_key") else ""
    elif isinstance(spec, str):
        declared, extra = spec, ""
    else:
        raise ToolError(f"Column {column!r}: type must be a string like 'TEXT' or 'UUID PRIMARY KEY'")
    words = declared.upper().replace("(", " ").replace(")", " ").split()
    if not words or words[0] not in _SQL_TYPES:
        raise ToolError(f"Column {column!r}: unknown type {declared!r} (use one of {', '.join(sorted(_SQL_TYPES))})")
    rest = " ".join(w for w in words[1:] if not w.isdigit())
    constraints = []
    for phrase, sql in _CONSTRAINTS.items():
        if phrase in rest:
            constraints.append(sql)
            rest = rest.replace(phrase, "")
    if rest.strip():
        raise ToolError(f"Column {column!r}: unsupported type modifier {rest.strip()!r}")
    definition = " ".join([f'"{column}"', _SQL_TYPES[words[0]], *constraints]) + extra
    return definition, words[0]


class ZeroDBTables:
    """``zerodb_create_table`` / ``zerodb_insert_rows`` / ``zerodb_query_table`` on one SQLite file."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "zerodb.sqlite3"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        db.execute("CREATE TABLE IF NOT EXISTS _zerodb_tables (name TEXT PRIMARY KEY, schema TEXT NOT NULL, "
                   "description TEXT, created_at TEXT NOT NULL)")
        return db

    def _schema(self, db: sqlite3.Connection, table: str) -> dict[str, str]:
        row = db.execute("SELECT schema FROM _zerodb_tables WHERE name = ?", (table,)).fetchone()
        if row is None:
            names = [r[0] for r in db.execute("SELECT name FROM _zerodb_tables ORDER BY name")]
            raise ToolError(f"Table {table!r} does not exist (tables: {', '.join(names) or 'none'})")
        return json.loads(row[0])

    def create_table(self, args: dict[str, Any]) -> dict[str, Any]:
        table = _ident(args.get("table_name"), "table name")
        schema = args.get("schema")
        if not isinstance(schema, dict) or not schema:
            raise ToolError("'schema' must be a non-empty object of column name -> type")
        columns, declared = [], {}
        for column, spec in schema.items():
            definition, kind = _column_type(_ident(column, "column name"), spec)
            columns.append(definition)
            declared[column] = kind
        with self._connect() as db:
            if db.execute("SELECT 1 FROM _zerodb_tables WHERE name = ?", (table,)).fetchone():
                raise ToolError(f"Table {table!r} already exists")
            db.execute(f'CREATE TABLE "{table}" ({", ".join(columns)})')
            db.execute("INSERT INTO _zerodb_tables VALUES (?, ?, ?, ?)",
                       (table, json.dumps(declared), args.get("description"), _now()))
        return {"status": "created", "table_name": table, "columns": declared}

    def insert_rows(self, args: dict[str, Any]) -> dict[str, Any]:
        table = _ident(args.get("table_name"), "table name")
        rows = args.get("rows")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ToolError("'rows' must be a non-empty array of objects")
        with self._connect() as db:
            schema = self._schema(db, table)
            ids = []
            for i, row in enumerate(rows):
                unknown = sorted(set(row) - set(schema))
                if unknown:
                    raise ToolError(f"rows[{i}]: unknown column(s) {', '.join(unknown)} (columns: {', '.join(schema)})")
                row = dict(row)
                for column, kind in schema.items():  # a UUID column left out gets a fresh id
                    if kind == "UUID" and row.get(column) is None:
                        row[column] = str(uuid.uuid4())
                names = list(row)
                try:
                    db.execute(f'INSERT INTO "{table}" ({", ".join(f"{chr(34)}{n}{chr(34)}" for n in names)}) '
                               f'VALUES ({", ".join("?" for _ in names)})', [_sql_value(row[n]) for n in names])
                except sqlite3.IntegrityError as exc:
                    raise ToolError(f"rows[{i}]: {exc}") from None
                ids.append(row.get("id"))
        return {"status": "inserted", "table_name": table, "inserted": len(rows), "ids": ids}

    def query_table(self, args: dict[str, Any]) -> dict[str, Any]:
        table = _ident(args.get("table_name"), "table name")
        filters = args.get("filters") or {}
        if not isinstance(filters, dict):
            raise ToolError("'filters' must be an object of column -> value (equality)")
        limit = _limit(args, 100)
        with self._connect() as db:
            schema = self._schema(db, table)
            unknown = sorted(set(filters) - set(schema))
            if unknown:
                raise ToolError(f"Unknown filter column(s) {', '.join(unknown)} (columns: {', '.join(schema)})")
            where = " AND ".join(f'"{c}" IS ?' for c in filters)
            sql = f'SELECT * FROM "{table}"' + (f" WHERE {where}" if where else "") + " ORDER BY rowid LIMIT ?"
            rows = [dict(r) for r in db.execute(sql, [*(_sql_value(v) for v in filters.values()), limit])]
        return {"table_name": table, "count": len(rows), "rows": rows}

    def semantic_search(self, args: dict[str, Any]) -> dict[str, Any]:
        """A stand-in for semantic search: rows ranked by word overlap of their text with the query."""
        table = _ident(args.get("table_name"), "table name")
        query = _require_str(args, "query") or ""
        limit = _limit(args, 5)
        with self._connect() as db:
            self._schema(db, table)
            rows = [dict(r) for r in db.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
        wanted = _words(query)
        scored = [(len(wanted & _words(" ".join(str(v) for v in r.values()))), r) for r in rows]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: -s[0])[:limit]
        return {"table_name": table, "query": query, "count": len(ranked),
                "results": [{"score": score, "row": row} for score, row in ranked]}

    def executors(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"zerodb_create_table": self.create_table, "zerodb_insert_rows": self.insert_rows,
                "zerodb_query_table": self.query_table, "zerodb_semantic_search": self.semantic_search}


def _sql_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --------------------------------------------------------------------------------------------------
# Agent memory on SQLite
# --------------------------------------------------------------------------------------------------


class MemoryStore:
    """``zerodb_store_memory`` / ``zerodb_search_memory``: search ranks by case-insensitive word overlap."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "memory.sqlite3"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        db.execute("CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL, "
                   "memory_type TEXT NOT NULL, content TEXT NOT NULL, metadata TEXT, created_at TEXT NOT NULL)")
        return db

    def store(self, args: dict[str, Any]) -> dict[str, Any]:
        agent_id = _require_str(args, "agent_id")
        memory_type = _require_str(args, "memory_type")
        content = _require_str(args, "content")
        if not content or not content.strip():
            raise ToolError("'content' must not be empty")
        metadata = args.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ToolError("'metadata' must be an object")
        with self._connect() as db:
            cur = db.execute("INSERT INTO memories (agent_id, memory_type, content, metadata, created_at) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (agent_id, memory_type, content, json.dumps(metadata) if metadata else None, _now()))
        return {"status": "stored", "memory_id": cur.lastrowid, "agent_id": agent_id, "memory_type": memory_type}

    def search(self, args: dict[str, Any]) -> dict[str, Any]:
        agent_id = _require_str(args, "agent_id")
        query = _require_str(args, "query") or ""
        limit = _limit(args, 5, maximum=100)
        wanted = _words(query)
        with self._connect() as db:
            rows = db.execute("SELECT * FROM memories WHERE agent_id = ? ORDER BY id DESC", (agent_id,)).fetchall()
        scored = [(len(wanted & _words(r["content"])), r) for r in rows]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: -s[0])[:limit]  # stable: newest first
        return {"agent_id": agent_id, "query": query, "count": len(ranked), "memories": [
            {"memory_id": r["id"], "memory_type": r["memory_type"], "content": r["content"], "score": score,
             "metadata": json.loads(r["metadata"]) if r["metadata"] else None, "created_at": r["created_at"]}
            for score, r in ranked]}

    def executors(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"zerodb_store_memory": self.store, "zerodb_search_memory": self.search}


# --------------------------------------------------------------------------------------------------
# Sandbox: file_tool, bash_tool, testing_tool
# --------------------------------------------------------------------------------------------------


class Sandbox:
    def __init__(self, root: Path | None = None):
        self.root = (root or sandbox_dir()).resolve()

    # ---- paths ---------------------------------------------------------------------------------------

    def resolve(self, path: Any, what: str = "path") -> Path:
        """``path`` (relative to the sandbox) as an absolute path inside it; absolute paths and escapes refused."""
        if not isinstance(path, str) or not path.strip():
            raise ToolError(f"'{what}' must be a non-empty relative path")
        if path.startswith(("/", "\\", "~")) or Path(path).is_absolute() or re.match(r"^[A-Za-z]:", path):
            raise ToolError(f"Absolute paths are not allowed: {path!r} (paths are relative to the sandbox)")
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root):
            raise ToolError(f"Path {path!r} escapes the sandbox")
        return target

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    # ---- file_tool -----------------------------------------------------------------------------------

    def file_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        operation = args.get("operation")
        handler = {
            "read": self._read, "write": self._write, "append": self._append, "edit": self._edit,
            "delete": self._delete, "list": self._list, "exists": self._exists,
        }.get(operation if isinstance(operation, str) else "")
        if handler is None:
            raise ToolError(f"Unknown operation {operation!r}: use read, write, append, edit, delete, list or exists")
        return handler(self.resolve(args.get("path")), args)

    def _read(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        if not path.is_file():
            raise ToolError(f"No such file: {self.rel(path)}")
        data = path.read_bytes()
        text = data[:READ_LIMIT].decode("utf-8", errors="replace")
        return {"path": self.rel(path), "content": text, "size": len(data), "truncated": len(data) > READ_LIMIT}

    def _content(self, args: dict[str, Any]) -> str:
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolError("'content' (a string) is required for write, append and edit")
        return content

    def _prepare_parent(self, path: Path, args: dict[str, Any]) -> None:
        if path == self.root or path.is_dir():
            raise ToolError(f"{self.rel(path)} is a directory")
        if not path.parent.is_dir():
            if args.get("create_dirs", True) is False:
                raise ToolError(f"Directory {self.rel(path.parent)} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        content = self._content(args)
        self._prepare_parent(path, args)
        path.write_text(content, encoding="utf-8")
        return {"status": "written", "path": self.rel(path), "bytes": len(content.encode())}

    def _append(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        content = self._content(args)
        self._prepare_parent(path, args)
        with path.open("a", encoding="utf-8") as f:
            f.write(content)
        return {"status": "appended", "path": self.rel(path), "bytes": len(content.encode()),
                "size": path.stat().st_size}

    def _edit(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        content = self._content(args)
        old = args.get("old_text")
        if not isinstance(old, str) or not old:
            raise ToolError("'old_text' is required for edit")
        if not path.is_file():
            raise ToolError(f"No such file: {self.rel(path)}")
        text = path.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            raise ToolError(f"old_text occurs {count} times in {self.rel(path)}; it must occur exactly once")
        path.write_text(text.replace(old, content), encoding="utf-8")
        return {"status": "edited", "path": self.rel(path)}

    def _delete(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        if path == self.root:
            raise ToolError("Refusing to delete the sandbox root")
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            if any(path.iterdir()) and not args.get("recursive"):
                raise ToolError(f"Directory {self.rel(path)} is not empty (set recursive to delete it)")
            shutil.rmtree(path)
        else:
            raise ToolError(f"No such file or directory: {self.rel(path)}")
        return {"status": "deleted", "path": self.rel(path)}

    def _list(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        if not path.is_dir():
            raise ToolError(f"No such directory: {self.rel(path)}")
        found = path.rglob("*") if args.get("recursive") else path.iterdir()
        entries = [{"path": self.rel(p), "type": "dir" if p.is_dir() else "file",
                    **({} if p.is_dir() else {"size": p.stat().st_size})} for p in sorted(found)]
        return {"path": self.rel(path), "entries": entries[:1000], "count": len(entries)}

    def _exists(self, path: Path, args: dict[str, Any]) -> dict[str, Any]:
        kind = "dir" if path.is_dir() else "file" if path.exists() else None
        return {"path": self.rel(path), "exists": kind is not None, "type": kind}

    # ---- processes ---------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def _run(self, argv: list[str], cwd: Path, timeout: float) -> dict[str, Any]:
        try:
            proc = subprocess.run(argv, cwd=cwd, env=self._env(), capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ToolError(f"Command timed out after {timeout:g} s and was killed") from None
        except FileNotFoundError as exc:
            raise ToolError(f"Command not found: {exc.filename}") from None
        return {"exit_code": proc.returncode, "stdout": _truncate(proc.stdout), "stderr": _truncate(proc.stderr)}

    def _timeout(self, args: dict[str, Any], default: int) -> int:
        value = args.get("timeout_seconds", default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ToolError("'timeout_seconds' must be a positive integer")
        return min(value, MAX_TIMEOUT_S)

    # ---- bash_tool ---------------------------------------------------------------------------------

    READ_COMMANDS = frozenset({"ls", "cat", "wc", "head", "tail"})
    ALLOWED = "ls, cat, echo, pwd, wc, head, tail, python --version, python -m pytest"

    def _argv(self, command: str) -> list[str]:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ToolError(f"Cannot parse command: {exc}") from None
        if not argv:
            raise ToolError("Empty command")
        program = argv[0]
        if program in ("python", "python3"):
            if argv[1:] == ["--version"]:
                return [sys.executable, "--version"]
            if argv[1:3] == ["-m", "pytest"]:
                self._check_args(argv[3:])
                return [sys.executable, "-m", "pytest", *argv[3:]]
        elif program in self.READ_COMMANDS:
            self._check_args(argv[1:])
            return argv
        elif program in ("echo", "pwd"):
            return argv
        raise ToolError(f"Command not allowed: {command!r}. This client only runs: {self.ALLOWED} "
                        "(no shell: pipes, redirections and ';' are not interpreted)")

    def _check_args(self, args: list[str]) -> None:
        for arg in args:
            value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
            if value.startswith("-"):
                continue
            self.resolve(value, "argument")

    def bash_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        command = _require_str(args, "command") or ""
        if args.get("env"):
            raise ToolError("'env' is not supported by this client")
        cwd = self.resolve(args.get("cwd") or ".", "cwd")
        if not cwd.is_dir():
            raise ToolError(f"No such directory: {self.rel(cwd)}")
        argv = self._argv(command)
        result = self._run(argv, cwd, self._timeout(args, 30))
        return {"command": command, "cwd": self.rel(cwd), **result}

    # ---- testing_tool ------------------------------------------------------------------------------

    def testing_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        framework = _require_str(args, "test_framework")
        target = self.resolve(args.get("test_path"), "test_path")
        if not target.exists():
            raise ToolError(f"No such test file or directory: {self.rel(target)}")
        rel = self.rel(target)
        test_filter = _require_str(args, "test_filter", required=False)
        if framework == "pytest":
            argv = [sys.executable, "-m", "pytest", rel, "-q", "-p", "no:cacheprovider", "--rootdir", "."]
            if test_filter:
                argv += ["-k", test_filter]
            if args.get("fail_fast"):
                argv.append("-x")
        elif framework == "unittest":
            if target.is_dir():
                argv = [sys.executable, "-m", "unittest", "discover", "-s", rel, "-t", "."]
            else:
                argv = [sys.executable, "-m", "unittest", rel]
            if args.get("fail_fast"):
                argv.append("-f")
            if test_filter:
                argv += ["-k", test_filter]
        else:
            raise ToolError(f"test_framework {framework!r} is not supported by this client (pytest, unittest)")
        result = self._run(argv, self.root, self._timeout(args, 120))
        output = result["stdout"] + result["stderr"]
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        passed = result["exit_code"] == 0
        if framework == "pytest":  # the summary line ("1 passed in 0.01s"), not a trailing warning
            last = lines[-1] if lines else ""
            summary = next((line for line in reversed(lines) if _PYTEST_SUMMARY.search(line)), last)
            counts = {kind: int(n) for n, kind in _PYTEST_COUNTS.findall(summary)}
        else:
            ran = re.search(r"Ran (\d+) tests?", output)
            failures = re.search(r"FAILED \((.*)\)", output)
            counts = {"ran": int(ran.group(1)) if ran else 0}
            if failures:
                counts.update({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", failures.group(1))})
            summary = next((line for line in reversed(lines) if line.startswith(("OK", "FAILED", "NO TESTS"))), "")
            passed = passed and counts["ran"] > 0
        out = {"test_framework": framework, "test_path": rel, "exit_code": result["exit_code"],
               "passed": passed, "counts": counts, "summary": summary, "output": _truncate(output)}
        if args.get("coverage"):
            out["note"] = "coverage is not collected by this client"
        return out

    def executors(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"file_tool": self.file_tool, "bash_tool": self.bash_tool, "testing_tool": self.testing_tool}


_PYTEST_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)")
_PYTEST_SUMMARY = re.compile(r"^=*\s*(\d+ \w+(, )?)+.* in [0-9.]+s")


# --------------------------------------------------------------------------------------------------
# http_tool
# --------------------------------------------------------------------------------------------------


def http_tool(args: dict[str, Any]) -> dict[str, Any]:
    """GET/HEAD only, to hosts in EXAMPLES_HTTP_ALLOW (comma-separated; default 127.0.0.1,localhost)."""
    method = str(args.get("method") or "GET").upper()
    url = _require_str(args, "url") or ""
    if method not in ("GET", "HEAD"):
        raise ToolError(f"Method {method} not allowed: this client only sends GET and HEAD")
    parts = urlsplit(url)
    allowed = {h.strip().lower() for h in os.environ.get("EXAMPLES_HTTP_ALLOW", "127.0.0.1,localhost").split(",")}
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in allowed:
        raise ToolError(f"URL not allowed: {url!r} (allowed hosts: {', '.join(sorted(allowed))}; "
                        "set EXAMPLES_HTTP_ALLOW to change)")
    timeout = args.get("timeout_seconds") or 10
    try:
        response = httpx.request(method, url, params=args.get("query") or None, headers=args.get("headers") or None,
                                 timeout=min(float(timeout), 30.0), follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ToolError(f"Request failed: {type(exc).__name__}: {exc}") from None
    return {"status": response.status_code, "content_type": response.headers.get("content-type"),
            "body": _truncate(response.text, keep="head")}
