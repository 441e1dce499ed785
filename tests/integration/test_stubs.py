"""The stubs for other languages (`make stubs`): TypeScript and Go clients against the real gateway.

* TypeScript (ts-proto + @grpc/grpc-js): clients/ts/src/proof.ts, compiled with tsc, calls the
  running gateway (unary, server streaming, ListModels); its JSON summary must match the scripted
  emulator turns exactly, chunk for chunk the same stream that the Python stub receives.
* Go (protoc-gen-go + protoc-gen-go-grpc): `go vet` and `go build` offline (GOPROXY=off) against
  Debian's Go packages, and the proof client clients/go/cmd/chatclient run against the gateway.
* Reproducibility: regenerating into a temporary directory gives the committed files byte for byte.

The tools come from scripts/install-stub-tools.sh (idempotent), run once per session; a failed
install fails the tests, it never skips them.
"""

from __future__ import annotations

import asyncio
import filecmp
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

from service.config import Settings
from tests.conftest import run_gateway
from tests.emulators import LlamaEmulator, Turn

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
GO_DIR = ROOT / "clients" / "go"
TS_DIR = ROOT / "clients" / "ts"
GENERATED = [GO_DIR / "ainative", TS_DIR / "src" / "gen"]
MODEL = "Llama-3.3-70B-Instruct"
CLIENT_TIMEOUT_S = 30
PROMPT = "Greet the stubs."
UNARY_TEXT = "Hello from the TypeScript stubs, unary."
STREAM_TEXT = "Streaming reaches Node over grpc-js in several small chunks of text."


def run(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a tool (outside any event loop); fail the test with its output when it fails."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout


def go_env() -> dict[str, str]:
    """Offline Go: no module proxy, packages from vendor/ (symlinks into /usr/share/gocode)."""
    env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=vendor", GO111MODULE="on", GOTOOLCHAIN="local")
    if not any(env.get(k) for k in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = "/tmp/ainative-go-build-cache"
    return env


@pytest.fixture(scope="session")
def stub_tools() -> None:
    # Up to 15 minutes: on a fresh machine this apt-get installs Go and protoc and npm fetches ts-proto.
    run(["bash", str(SCRIPTS / "install-stub-tools.sh")], timeout=900)


@pytest.fixture(scope="session")
def ts_proof(stub_tools: None) -> Path:
    """clients/ts compiled with its pinned tsc (dist/ is git-ignored)."""
    run([str(TS_DIR / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"], cwd=TS_DIR)
    proof = TS_DIR / "dist" / "proof.js"
    assert proof.is_file()
    return proof


@pytest.fixture(scope="session")
def go_module(stub_tools: None) -> Path:
    """clients/go with its git-ignored vendor/ farm, as `make stubs-build` makes it. Built in place: a
    stable directory keeps Go's build cache warm (a fresh copy per run would recompile grpc each time)."""
    run(["bash", str(SCRIPTS / "go-debian-vendor.sh"), str(GO_DIR)])
    return GO_DIR


@pytest.fixture(scope="session")
def go_chatclient(go_module: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("go-bin") / "chatclient"
    run(["go", "build", "-o", str(binary), "./cmd/chatclient"], cwd=go_module, env=go_env())
    return binary


def user(text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentPart(text=text)])


async def exec_json(*cmd: str) -> dict[str, Any]:
    """Run a client program without blocking the loop that serves the gateway; its stdout as JSON."""
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{err.decode()}"
    return json.loads(out)


async def python_stream(target: str) -> list[pb.ChatCompletionChunk]:
    """The reference: the same streaming call through the Python stub."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        call = stub.StreamChatCompletion(pb.StreamChatCompletionRequest(
            include_usage=True, request=pb.CreateChatCompletionRequest(model=MODEL, messages=[user(PROMPT)])))
        return [r.chunk async for r in call]


async def test_typescript_proof_calls_the_gateway(settings: Settings, llama_emu: LlamaEmulator, ts_proof: Path) -> None:
    llama_emu.enqueue(Turn(text=UNARY_TEXT, usage=(11, 7)), Turn(text=STREAM_TEXT, usage=(13, 9)),
                      Turn(text=STREAM_TEXT, usage=(13, 9)))
    running, _ = await run_gateway(settings, "inprocess")
    try:
        summary = await exec_json("node", str(ts_proof), running.grpc_target, "--model", MODEL, "--prompt", PROMPT)
        reference = await python_stream(running.grpc_target)
        async with grpc.aio.insecure_channel(running.grpc_target) as channel:
            models = await chat_pb2_grpc.ChatServiceStub(channel).ListModels(pb.ListModelsRequest())
    finally:
        await running.gateway.stop(grace=0.1)

    # What the emulator received from the TypeScript client.
    sent = [r.json for r in llama_emu.requests]
    assert [r["messages"] for r in sent[:2]] == [[{"role": "user", "content": PROMPT}]] * 2
    assert [bool(r.get("stream")) for r in sent] == [False, True, True]

    unary = summary["unary"]
    assert unary["text"] == UNARY_TEXT
    assert unary["id"].startswith("chatcmpl-")
    assert (unary["model"], unary["provider"], unary["role"]) == (MODEL, "meta_llama", "ROLE_ASSISTANT")
    assert unary["finish_reason"] == "FINISH_REASON_STOP"
    assert unary["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert (unary["iterations"], unary["total_tokens_used"]) == (1, 18)
    assert unary["request_id"] == "ts-proof-unary"

    stream = summary["stream"]
    ref_pieces = [c.choices[0].delta.content for c in reference if c.choices and c.choices[0].delta.HasField("content")]
    assert "".join(ref_pieces) == STREAM_TEXT and len(ref_pieces) > 1
    assert stream["text"] == STREAM_TEXT
    assert stream["pieces"] == ref_pieces
    assert stream["chunks"] == len(reference)
    assert len(stream["ids"]) == 1 and stream["ids"][0].startswith("chatcmpl-")
    assert stream["role"] == "assistant"
    assert stream["finish_reasons"] == ["FINISH_REASON_STOP"]
    assert stream["usage"] == {"prompt_tokens": 13, "completion_tokens": 9, "total_tokens": 22}
    assert stream["usage_chunk_has_choices"] is False
    assert (stream["iterations"], stream["total_tokens_used"]) == (1, 22)

    assert summary["models"]["ids"] == [m.id for m in models.models]
    assert summary["models"]["count"] == len(models.models) > 0 and MODEL in summary["models"]["ids"]


def test_go_stubs_vet_and_build_offline(go_module: Path) -> None:
    env = go_env()
    run(["go", "vet", "./..."], cwd=go_module, env=env)
    run(["go", "build", "./..."], cwd=go_module, env=env)
    packages = run(["go", "list", "./..."], cwd=go_module, env=env).split()
    assert packages == ["github.com/ainative/chat-gateway/clients/go/ainative/chat/v1",
                        "github.com/ainative/chat-gateway/clients/go/cmd/chatclient"]


async def test_go_chatclient_calls_the_gateway(settings: Settings, llama_emu: LlamaEmulator,
                                               go_chatclient: Path) -> None:
    llama_emu.enqueue(Turn(text=UNARY_TEXT, usage=(5, 4)), Turn(text=STREAM_TEXT, usage=(6, 3)))
    running, _ = await run_gateway(settings, "inprocess")
    try:
        summary = await exec_json(str(go_chatclient), "-addr", running.grpc_target, "-model", MODEL, PROMPT)
    finally:
        await running.gateway.stop(grace=0.1)
    assert summary["unary"]["text"] == UNARY_TEXT
    assert (summary["unary"]["model"], summary["unary"]["provider"]) == (MODEL, "meta_llama")
    assert summary["unary"]["finish_reason"] == "FINISH_REASON_STOP"
    assert summary["unary"]["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert summary["stream"]["text"] == STREAM_TEXT
    assert summary["stream"]["finish_reason"] == "FINISH_REASON_STOP"
    assert summary["stream"]["usage"] == {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}
    assert summary["stream"]["total_tokens_used"] == 9 and summary["stream"]["chunks"] > 2


def test_generated_stubs_are_reproducible(stub_tools: None, tmp_path: Path) -> None:
    assert all(d.is_dir() for d in GENERATED), "generated stubs missing: run `make stubs` and commit them"
    run(["bash", str(SCRIPTS / "gen-stubs.sh"), str(tmp_path)])
    for committed in GENERATED:
        fresh = tmp_path / committed.relative_to(ROOT)
        want = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
        have = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
        assert have == want, f"{committed}: file set differs from a fresh `make stubs`"
        changed = [str(p) for p in want if not filecmp.cmp(fresh / p, committed / p, shallow=False)]
        assert not changed, f"{committed}: {changed} differ from a fresh `make stubs`: regenerate and commit"
    assert {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()} == {
        "clients/go/ainative/chat/v1/chat.pb.go",
        "clients/go/ainative/chat/v1/chat_grpc.pb.go",
        "clients/ts/src/gen/ainative/chat/v1/chat.ts",
        # ts-proto emits every imported file: descriptor.proto defines the ErrorCode options (unused in TS)
        "clients/ts/src/gen/google/protobuf/descriptor.ts",
        "clients/ts/src/gen/google/protobuf/struct.ts",
    }
