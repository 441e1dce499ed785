"""clients/examples/: every script run as a real subprocess against an in-process gateway and scripted emulators.

The scripts run with asyncio's non-blocking subprocess API: the gateway and the emulators live in this test's
event loop, so a blocking wait for the child would deadlock. Each runs under an audit hook (sys.addaudithook)
that records every path it writes, creates, removes or runs a tool process in; no run may touch the repository.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.conftest import Running, run_gateway
from tests.emulators import Fault, LlamaEmulator, ToolCall, Turn

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "clients" / "examples"
SCRIPTS = ["quick_start.py", "example_1_simple_chat.py", "example_2_data_analysis.py", "example_3_memory_agent.py",
           "example_4_code_analysis.py", "pattern_1_multi_agent.py", "pattern_3_dynamic_tools.py", "pattern_5_retry.py"]
MODEL = "Llama-3.3-70B-Instruct"


@dataclass
class Result:
    code: int
    out: str
    err: str
    writes: list[tuple[str, Path]]  # (audit event, absolute path) of every write the script made


# Runs a script as `python clients/examples/<script> ...` would (argv, sys.path[0], __main__), logging each
# file opened for writing, directory made, SQLite database opened, path removed or renamed, and the working
# directory of each subprocess (the tools' commands) as "event\tabsolute path" lines.
AUDITED = r"""
import os, runpy, sys
log = open(os.environ.pop("EXAMPLES_TEST_WRITE_LOG"), "a", encoding="utf-8")
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
PATHS = {"os.mkdir": 1, "os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.truncate": 1, "shutil.rmtree": 1,
         "sqlite3.connect": 1}

def record(event, path):
    if isinstance(path, (str, bytes, os.PathLike)):
        log.write(f"{event}\t{os.path.abspath(os.fsdecode(path))}\n")
        log.flush()

def hook(event, args):
    if event == "open" and ((isinstance(args[1], str) and set(args[1]) & set("wax+")) or (args[2] or 0) & WRITE):
        record(event, args[0])
    elif event in PATHS:
        for path in args[:PATHS[event]]:
            record(event, path)
    elif event == "subprocess.Popen":
        record(event, args[2] if args[2] is not None else os.getcwd())

script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(script))
sys.addaudithook(hook)
runpy.run_path(script, run_name="__main__")
"""


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Running]:
    running, _ = await run_gateway(settings, "inprocess")
    try:
        yield running
    finally:
        await running.gateway.stop(grace=0.1)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "examples-data", tmp_path / "examples-sandbox"


def new_write_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="examples-writes-", suffix=".log")
    os.close(fd)
    return Path(name)


def read_write_log(log: Path) -> list[tuple[str, Path]]:
    """The (event, absolute path) lines AUDITED logged; removes the log."""
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    finally:
        log.unlink()
    return [(event, Path(path)) for event, path in (line.split("\t", 1) for line in lines)]


async def run_script(script: str, url: str, dirs: tuple[Path, Path] | None, *args: str, cwd: Path = ROOT,
                     **env: str) -> Result:
    """Run `script` from `cwd` (the repository root, as the README says); `dirs`: (EXAMPLES_DATA_DIR,
    EXAMPLES_SANDBOX), None to leave both unset. Fails when the script wrote anything into the repository."""
    log = new_write_log()
    environment = {"PATH": os.environ.get("PATH", ""), "GATEWAY_URL": url, "PYTHONDONTWRITEBYTECODE": "1",
                   "EXAMPLES_TEST_WRITE_LOG": str(log), **env}
    if dirs is not None:
        environment |= {"EXAMPLES_DATA_DIR": str(dirs[0]), "EXAMPLES_SANDBOX": str(dirs[1])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AUDITED, str(EXAMPLES / script), *args, cwd=cwd, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    finally:
        writes = read_write_log(log)
    assert [w for w in writes if w[1].is_relative_to(ROOT)] == []
    return Result(proc.returncode or 0, out.decode(), err.decode(), writes)


def call(name: str, call_id: str, **arguments: Any) -> ToolCall:
    return ToolCall(name, arguments, id=call_id)


def tool_results(llama_emu: LlamaEmulator, k: int) -> dict[str, Any]:
    """tool_call_id -> decoded content of the newest tool messages (after the last assistant one) in request k."""
    messages = llama_emu.requests[k].json["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    assert all(m["role"] == "tool" for m in messages[last + 1:])
    return {m["tool_call_id"]: json.loads(m["content"]) for m in messages[last + 1:]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def catalog(gw: Running, names: list[str]) -> list[dict]:
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"{gw.url}/v1/tools", params={"names": ",".join(names)})).json()
    return [{"type": "function", "function": t["function"]} for t in body["data"]]


# --------------------------------------------------------------------------------------------------
# Quick Start, Example 1, errors
# --------------------------------------------------------------------------------------------------


async def test_quick_start_and_example_1(gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]) -> None:
    result = await run_script("quick_start.py", gw.url, dirs)
    assert (result.code, result.out, result.err) == (
        0, f"Hello from the {MODEL} emulator. You said: Hello! What is 2+2?\n", "")
    sent = llama_emu.requests[0].json
    assert (sent["model"], sent["messages"], sent["temperature"], sent["max_completion_tokens"]) == (
        MODEL, [{"role": "user", "content": "Hello! What is 2+2?"}], 0.7, 500)

    llama_emu.enqueue(Turn(text="Quantum computers use qubits to compute with superposition.", usage=(9, 9)))
    result = await run_script("example_1_simple_chat.py", gw.url, dirs)
    assert (result.code, result.out) == (0, "Quantum computers use qubits to compute with superposition.\n")
    sent = llama_emu.requests[1].json
    assert sent["messages"] == [{"role": "user", "content": "Explain quantum computing in one sentence."}]
    assert (sent["temperature"], sent["max_completion_tokens"]) == (0.7, 4028)


async def test_http_error_and_unreachable_gateway_exit_with_one_line(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    llama_emu.valid_keys = {"LLM|some-other-key"}
    result = await run_script("quick_start.py", gw.url, dirs)
    assert (result.code, result.out) == (1, "")
    assert result.err == "Error: gateway returned HTTP 401: Meta Llama API rejected the API key: Invalid API key\n"

    url = f"http://127.0.0.1:{closed_port()}"
    result = await run_script("example_1_simple_chat.py", url, dirs)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"Error: cannot reach the gateway at {url}: ConnectError: All connection attempts failed\n"


# --------------------------------------------------------------------------------------------------
# Example 2: ZeroDB on SQLite
# --------------------------------------------------------------------------------------------------

USERS = [{"id": "6f1c1a52-0000-4000-8000-000000000001", "name": "Alice", "email": "alice@example.com"},
         {"id": "6f1c1a52-0000-4000-8000-000000000002", "name": "Bob", "email": "bob@example.com"},
         {"id": "6f1c1a52-0000-4000-8000-000000000003", "name": "Carol", "email": "carol@example.com"}]
EXAMPLE_2_PROMPT = """Create a table called 'users' with schema:
                        {id: UUID PRIMARY KEY, name: TEXT, email: TEXT}.
                        Then insert 3 sample users and query all of them."""


async def test_example_2_runs_the_zerodb_tools_on_sqlite(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    llama_emu.enqueue(
        Turn(tool_calls=[call("zerodb_create_table", "call_create", table_name="users",
                              schema={"id": "UUID PRIMARY KEY", "name": "TEXT", "email": "TEXT"})], usage=(100, 10)),
        Turn(tool_calls=[call("zerodb_insert_rows", "call_insert", table_name="users", rows=USERS)], usage=(150, 20)),
        Turn(tool_calls=[call("zerodb_query_table", "call_all", table_name="users", filters={}),
                         call("zerodb_query_table", "call_bob", table_name="users", filters={"name": "Bob"})],
             usage=(200, 30)),
        Turn(text="Created 'users', inserted Alice, Bob and Carol, and queried all 3.", usage=(300, 15)),
    )
    result = await run_script("example_2_data_analysis.py", gw.url, dirs)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-3:] == [
        "Iterations: 4", "Total tokens: 825",
        "Result: Created 'users', inserted Alice, Bob and Carol, and queried all 3."]
    assert [line for line in result.out.splitlines() if line.startswith("[iteration")] == [
        "[iteration 1] 1 tool call(s), 110 tokens", "[iteration 2] 1 tool call(s), 170 tokens",
        "[iteration 3] 2 tool call(s), 230 tokens", "[iteration 4] finish_reason=stop, 315 tokens"]

    with sqlite3.connect(dirs[0] / "zerodb.sqlite3") as db:
        rows = db.execute("SELECT id, name, email FROM users ORDER BY rowid").fetchall()
        pk = [r[1] for r in db.execute("PRAGMA table_info(users)") if r[5]]
    assert rows == [(u["id"], u["name"], u["email"]) for u in USERS]
    assert pk == ["id"]

    assert len(llama_emu.requests) == 4
    first = llama_emu.requests[0].json
    assert first["messages"] == [{"role": "user", "content": EXAMPLE_2_PROMPT}]
    assert [t["function"]["name"] for t in first["tools"]] == [
        "zerodb_create_table", "zerodb_insert_rows", "zerodb_query_table"]
    assert tool_results(llama_emu, 1) == {"call_create": {
        "status": "created", "table_name": "users", "columns": {"id": "UUID", "name": "TEXT", "email": "TEXT"}}}
    assert tool_results(llama_emu, 2) == {"call_insert": {
        "status": "inserted", "table_name": "users", "inserted": 3, "ids": [u["id"] for u in USERS]}}
    assert tool_results(llama_emu, 3) == {
        "call_all": {"table_name": "users", "count": 3, "rows": USERS},
        "call_bob": {"table_name": "users", "count": 1, "rows": [USERS[1]]},
    }
    # the conversation the client sent back: assistant tool_calls, then one tool message per call, in order
    last = llama_emu.requests[3].json["messages"]
    assert [(m["role"], m.get("tool_call_id")) for m in last] == [
        ("user", None), ("assistant", None), ("tool", "call_create"), ("assistant", None), ("tool", "call_insert"),
        ("assistant", None), ("tool", "call_all"), ("tool", "call_bob")]
    assert [c["id"] for c in last[5]["tool_calls"]] == ["call_all", "call_bob"]


async def test_loop_stops_after_max_iterations_with_the_guides_message(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    llama_emu.enqueue(*[Turn(tool_calls=[call("zerodb_query_table", f"call_{i}", table_name="users")])
                        for i in range(6)])
    result = await run_script("example_2_data_analysis.py", gw.url, dirs)
    assert result.code == 1
    assert result.err == "Error: Maximum tool calling iterations (5) exceeded without completion\n"
    assert len(llama_emu.requests) == 5 and llama_emu.pending == 1
    assert [line.split(",")[0] for line in result.out.splitlines() if line.startswith("[iteration")] == [
        f"[iteration {i}] 1 tool call(s)" for i in range(1, 6)]
    # a failing tool does not crash the loop: the model sees the error
    assert tool_results(llama_emu, 1) == {"call_0": {
        "error": "Table 'users' does not exist (tables: none)", "tool_name": "zerodb_query_table", "status": "failed"}}


# --------------------------------------------------------------------------------------------------
# Example 3: memory agent
# --------------------------------------------------------------------------------------------------


async def test_example_3_second_conversation_finds_what_the_first_stored(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    agent = "assistant_001"
    fact = "The user's name is John and he loves Python programming."
    llama_emu.enqueue(
        Turn(tool_calls=[call("zerodb_search_memory", "s1", agent_id=agent, query="John Python programming")]),
        Turn(tool_calls=[call("zerodb_store_memory", "m1", agent_id=agent, memory_type="user_profile", content=fact)]),
        Turn(text="Nice to meet you, John!"),
        Turn(tool_calls=[call("zerodb_search_memory", "s2", agent_id=agent, query="preferred programming language")]),
        Turn(text="You prefer Python."),
    )
    result = await run_script("example_3_memory_agent.py", gw.url, dirs)
    assert result.code == 0, result.err
    assert [line for line in result.out.splitlines() if line.startswith("Agent:")] == [
        "Agent: Nice to meet you, John!", "Agent: You prefer Python."]

    with sqlite3.connect(dirs[0] / "memory.sqlite3") as db:
        rows = db.execute("SELECT id, agent_id, memory_type, content FROM memories").fetchall()
    assert rows == [(1, agent, "user_profile", fact)]

    assert tool_results(llama_emu, 1) == {"s1": {"agent_id": agent, "query": "John Python programming",
                                                 "count": 0, "memories": []}}
    assert tool_results(llama_emu, 2)["m1"] == {"status": "stored", "memory_id": 1, "agent_id": agent,
                                                "memory_type": "user_profile"}
    second = llama_emu.requests[3].json["messages"]  # a new conversation: system + user only
    assert [m["role"] for m in second] == ["system", "user"]
    assert second[1]["content"] == "What programming language do I prefer?"
    assert f"Your agent ID is {agent}." in second[0]["content"]
    [memory] = tool_results(llama_emu, 4)["s2"]["memories"]
    assert (memory["memory_id"], memory["content"], memory["memory_type"], memory["score"]) == (
        1, fact, "user_profile", 1)  # "programming"


# --------------------------------------------------------------------------------------------------
# Example 4: sandboxed file_tool, bash_tool, testing_tool
# --------------------------------------------------------------------------------------------------

FIB = "def fibonacci(n):\n    if n <= 1:\n        return n\n    return fibonacci(n-1) + fibonacci(n-2)\n"
TEST_FIB = "from fib import fibonacci\n\n\ndef test_fibonacci():\n    assert [fibonacci(i) for i in range(7)] == [0, 1, 1, 2, 3, 5, 8]\n"


async def test_example_4_writes_tests_and_runs_them_in_the_sandbox(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    sandbox = dirs[1]
    llama_emu.enqueue(
        Turn(tool_calls=[call("file_tool", "w1", operation="write", path="fib.py", content=FIB)], usage=(50, 5)),
        Turn(tool_calls=[call("file_tool", "w2", operation="write", path="test_fib.py", content=TEST_FIB),
                         call("testing_tool", "t1", test_framework="pytest", test_path="test_fib.py")], usage=(80, 10)),
        Turn(tool_calls=[call("bash_tool", "b1", command="rm -rf /"),
                         call("bash_tool", "b2", command="ls"),
                         call("bash_tool", "b3", command="cat ../outside.txt"),
                         call("file_tool", "r1", operation="read", path="/etc/passwd"),
                         call("file_tool", "r2", operation="write", path="../escape.py", content="x")],
             usage=(120, 25)),
        Turn(text="All tests pass.", usage=(200, 4)),
    )
    result = await run_script("example_4_code_analysis.py", gw.url, dirs)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-3:] == ["Iterations: 4", "Total tokens: 494", "All tests pass."]

    assert sorted(p.name for p in sandbox.iterdir()) == ["fib.py", "test_fib.py"]  # no caches, no escapes
    assert (sandbox / "fib.py").read_text() == FIB and (sandbox / "test_fib.py").read_text() == TEST_FIB
    assert not (sandbox.parent / "escape.py").exists()

    assert tool_results(llama_emu, 1) == {"w1": {"status": "written", "path": "fib.py", "bytes": len(FIB)}}
    results = tool_results(llama_emu, 2)
    assert results["w2"] == {"status": "written", "path": "test_fib.py", "bytes": len(TEST_FIB)}
    tested = results["t1"]
    assert (tested["exit_code"], tested["passed"], tested["counts"], tested["test_path"]) == (
        0, True, {"passed": 1}, "test_fib.py")
    assert re.fullmatch(r"1 passed in [0-9.]+s", tested["summary"]) and "1 passed" in tested["output"]

    results = tool_results(llama_emu, 3)
    assert results["b1"]["status"] == "failed"
    assert results["b1"]["error"].startswith("Command not allowed: 'rm -rf /'. This client only runs: ls, cat,")
    assert results["b2"] == {"command": "ls", "cwd": ".", "exit_code": 0, "stdout": "fib.py\ntest_fib.py\n",
                             "stderr": ""}
    assert results["b3"]["error"] == "Path '../outside.txt' escapes the sandbox"
    assert results["r1"]["error"] == "Absolute paths are not allowed: '/etc/passwd' (paths are relative to the sandbox)"
    assert results["r2"]["error"] == "Path '../escape.py' escapes the sandbox"
    assert [line for line in result.out.splitlines() if line.startswith("[iteration")] == [
        "[iteration 1] 1 tool call(s), 55 tokens", "[iteration 2] 2 tool call(s), 90 tokens",
        "[iteration 3] 5 tool call(s), 145 tokens", "[iteration 4] finish_reason=stop, 204 tokens"]
    # the guide's Example 4 tools reach the provider as sent
    assert [t["function"]["name"] for t in llama_emu.requests[0].json["tools"]] == [
        "bash_tool", "file_tool", "testing_tool"]


# --------------------------------------------------------------------------------------------------
# Defaults: data and sandbox under ./data/examples (git-ignored), never in the source tree
# --------------------------------------------------------------------------------------------------


async def test_by_default_the_examples_write_under_data_examples_only(
    gw: Running, llama_emu: LlamaEmulator, tmp_path: Path
) -> None:
    # a stand-in for the directory the README runs them from, without EXAMPLES_DATA_DIR / EXAMPLES_SANDBOX
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    llama_emu.enqueue(
        Turn(tool_calls=[call("zerodb_create_table", "c1", table_name="users", schema={"name": "TEXT"})]),
        Turn(text="Created."),
        Turn(tool_calls=[call("file_tool", "w1", operation="write", path="fib.py", content=FIB),
                         call("file_tool", "w2", operation="write", path="test_fib.py", content=TEST_FIB),
                         call("testing_tool", "t1", test_framework="pytest", test_path="test_fib.py")]),
        Turn(text="All tests pass."),
    )
    example_2 = await run_script("example_2_data_analysis.py", gw.url, None, cwd=checkout)
    assert example_2.code == 0, example_2.err
    example_4 = await run_script("example_4_code_analysis.py", gw.url, None, cwd=checkout)
    assert example_4.code == 0, example_4.err
    assert tool_results(llama_emu, 3)["t1"]["counts"] == {"passed": 1}

    def inside(result: Result) -> set[tuple[str, str]]:
        assert [w for w in result.writes if not w[1].is_relative_to(checkout)] in ([], [("open", Path(os.devnull))])
        return {(event, str(path.relative_to(checkout))) for event, path in result.writes
                if path.is_relative_to(checkout)}

    assert inside(example_2) == {("os.mkdir", "data"), ("os.mkdir", "data/examples"),
                                 ("sqlite3.connect", "data/examples/zerodb.sqlite3")}
    assert inside(example_4) == {("os.mkdir", "data/examples"), ("os.mkdir", "data/examples/sandbox"),
                                 ("open", "data/examples/sandbox/fib.py"),
                                 ("open", "data/examples/sandbox/test_fib.py"),
                                 ("subprocess.Popen", "data/examples/sandbox")}
    assert sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*")) == [
        "data", "data/examples", "data/examples/sandbox", "data/examples/sandbox/fib.py",
        "data/examples/sandbox/test_fib.py", "data/examples/zerodb.sqlite3"]
    # run from the repository root, that is ./data/examples: inside ./data, which git ignores
    assert "data/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


# --------------------------------------------------------------------------------------------------
# Pattern 1 and 3: catalog tools by name
# --------------------------------------------------------------------------------------------------


def seed_notes(data: Path) -> None:
    """A 'notes' table in the examples' ZeroDB stand-in, for the research agent to search."""
    data.mkdir(parents=True)
    with sqlite3.connect(data / "zerodb.sqlite3") as db:
        db.execute("CREATE TABLE _zerodb_tables (name TEXT PRIMARY KEY, schema TEXT NOT NULL, description TEXT, "
                   "created_at TEXT NOT NULL)")
        db.execute("INSERT INTO _zerodb_tables VALUES ('notes', '{\"text\": \"TEXT\"}', NULL, '2026-01-06')")
        db.execute('CREATE TABLE notes ("text" TEXT)')
        db.executemany("INSERT INTO notes VALUES (?)", [("Use asyncio.gather for concurrent async IO",),
                                                        ("Bake bread at 230 degrees",)])


async def test_pattern_1_two_agents_with_catalog_tools(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    seed_notes(dirs[0])
    llama_emu.enqueue(
        Turn(tool_calls=[call("zerodb_semantic_search", "q1", query="async IO best practices", table_name="notes"),
                         call("http_tool", "h1", method="GET", url=f"{gw.url}/v1/models"),
                         call("http_tool", "h2", method="GET", url="https://example.com/")], usage=(10, 1)),
        Turn(text="Use asyncio.gather.", usage=(20, 2)),
        Turn(tool_calls=[call("file_tool", "f1", operation="write", path="fetch.py", content="import asyncio\n")],
             usage=(30, 3)),
        Turn(text="Wrote fetch.py.", usage=(40, 4)),
    )
    result = await run_script("pattern_1_multi_agent.py", gw.url, dirs)
    assert result.code == 0, result.err
    assert [line for line in result.out.splitlines() if not line.startswith(("[", " "))] == [
        "== Research agent ==", "Research: Use asyncio.gather.", "== Code agent ==", "Code: Wrote fetch.py.",
        "Iterations: 4 (2 research + 2 code)", "Total tokens: 110"]

    research, code = llama_emu.requests[0].json, llama_emu.requests[2].json
    assert research["tools"] == await catalog(gw, ["zerodb_semantic_search", "http_tool"])
    assert code["tools"] == await catalog(gw, ["file_tool", "testing_tool"])
    assert research["messages"] == [{"role": "user", "content": "Research best practices for async Python"}]
    assert code["messages"] == [{"role": "user", "content":
                                 "Based on this research: Use asyncio.gather., generate optimized async code"}]
    results = tool_results(llama_emu, 1)
    assert results["q1"] == {"table_name": "notes", "query": "async IO best practices", "count": 1,
                             "results": [{"score": 2, "row": {"text": "Use asyncio.gather for concurrent async IO"}}]}
    assert results["h1"]["status"] == 200
    assert MODEL in [m["id"] for m in json.loads(results["h1"]["body"])["data"]]
    assert results["h2"]["error"].startswith("URL not allowed: 'https://example.com/'")
    assert (dirs[1] / "fetch.py").read_text() == "import asyncio\n"
    assert len(llama_emu.requests) == 4


async def test_pattern_3_sends_catalog_names_and_the_provider_gets_full_definitions(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    # unscripted: the mock model calls the first tool with schema-derived arguments, then answers
    result = await run_script("pattern_3_dynamic_tools.py", gw.url, dirs, "data_analysis")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "Intent: data_analysis -> tools: zerodb_query_table, zerodb_semantic_search"
    assert "Iterations: 2" in result.out.splitlines()
    definitions = await catalog(gw, ["zerodb_query_table", "zerodb_semantic_search"])
    assert llama_emu.requests[0].json["tools"] == llama_emu.requests[1].json["tools"] == definitions
    assert definitions[0]["function"]["parameters"]["required"] == ["table_name"]
    [error] = tool_results(llama_emu, 1).values()
    assert error["error"] == "Table 'example' does not exist (tables: none)"
    answer = result.out.split("Answer: ", 1)[1].strip()
    assert answer == "Tool results received: " + llama_emu.requests[1].json["messages"][-1]["content"]

    llama_emu.enqueue(Turn(tool_calls=[call("docker_tool", "d1", operation="build", image="app:latest")]),
                      Turn(text="I cannot build images here."))
    result = await run_script("pattern_3_dynamic_tools.py", gw.url, dirs, "deployment")
    assert result.code == 0, result.err
    assert [t["function"]["name"] for t in llama_emu.requests[2].json["tools"]] == [
        "docker_tool", "deployment_tool", "bash_tool"]
    assert tool_results(llama_emu, 3)["d1"] == {"error": "Unknown tool 'docker_tool': this client can run bash_tool",
                                                "tool_name": "docker_tool", "status": "failed"}

    result = await run_script("pattern_3_dynamic_tools.py", gw.url, dirs, "astrology")
    assert (result.code, result.err) == (
        1, "Error: unknown intent 'astrology': use one of data_analysis, code_generation, deployment\n")
    assert len(llama_emu.requests) == 4


# --------------------------------------------------------------------------------------------------
# Pattern 5: retries
# --------------------------------------------------------------------------------------------------

FAST = {"EXAMPLES_RETRY_BASE_DELAY": "0.01"}


async def test_pattern_5_retries_5xx_and_429_but_not_400(
    gw: Running, llama_emu: LlamaEmulator, dirs: tuple[Path, Path]
) -> None:
    # 3 upstream 503s: the gateway retries twice (UPSTREAM_MAX_RETRIES=2; retry-after keeps its waits short),
    # then answers 502 keeping the provider's Retry-After, which the script honours before its 4th call succeeds
    llama_emu.enqueue(*[Fault(status=503, retry_after=0.05)] * 3, Turn(text="2 + 2 = 4."))
    result = await run_script("pattern_5_retry.py", gw.url, dirs, **FAST)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "Attempt 1 failed (HTTP 502: Meta Llama API returned HTTP 503: Service unavailable), "
        "retrying in 0.05s (Retry-After)...",
        "2 + 2 = 4."]
    assert [r.status for r in llama_emu.requests] == [503, 503, 503, 200]

    # 429 after the gateway's retries: Retry-After reaches the client, which waits that long, not its backoff
    llama_emu.reset()
    llama_emu.enqueue(*[Fault(status=429, retry_after=0.2)] * 3, Turn(text="4"))
    result = await run_script("pattern_5_retry.py", gw.url, dirs, **FAST)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].endswith("retrying in 0.2s (Retry-After)...")
    assert result.out.splitlines()[0].startswith("Attempt 1 failed (HTTP 429: Meta Llama API rate limit reached")
    assert result.out.splitlines()[1:] == ["4"] and len(llama_emu.requests) == 4

    # a 400 is not retried
    llama_emu.reset()
    llama_emu.enqueue(Fault(status=400, message="messages: bad content"), Turn(text="never"))
    result = await run_script("pattern_5_retry.py", gw.url, dirs, **FAST)
    assert (result.code, result.out) == (1, "")
    assert result.err == "Error: gateway returned HTTP 400: Meta Llama API rejected the request: messages: bad content\n"
    assert len(llama_emu.requests) == 1 and llama_emu.pending == 1


async def test_pattern_5_retries_connection_errors_then_gives_up(dirs: tuple[Path, Path]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = await run_script("pattern_5_retry.py", url, dirs, EXAMPLES_RETRY_ATTEMPTS="3", **FAST)
    assert result.code == 1
    assert result.out.splitlines() == [
        "Attempt 1 failed (All connection attempts failed), retrying in 0.01s...",
        "Attempt 2 failed (All connection attempts failed), retrying in 0.02s..."]
    assert result.err == f"Error: cannot reach the gateway at {url}: ConnectError: All connection attempts failed\n"


# --------------------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------------------


def test_readme_lists_every_script_with_a_runnable_command() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^GATEWAY_URL=http://127\.0\.0\.1:8080 python (clients/examples/(\w+\.py))(?: \w+)?$",
                          readme, re.M)
    listed = [name for _, name in commands]
    assert listed == SCRIPTS
    assert all((ROOT / path).is_file() for path, _ in commands)
    on_disk = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in ("agent_loop.py", "local_tools.py"))
    assert on_disk == sorted(SCRIPTS)
    assert "make emulators" in readme and "META_API_KEY=LLM-local make run" in readme
