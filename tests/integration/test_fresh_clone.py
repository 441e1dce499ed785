"""A fresh clone in an empty folder: what a newcomer gets when following the README.

The clone is of the committed HEAD, made in a temporary folder with nothing beside it, so nothing outside the
repository can be read by accident (CI's own checkout has other folders beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest

from tests.emulators import AnthropicEmulator, LlamaEmulator
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # the suite's own venv: the dev set is already there

# what the README's first command must not install (the developer set)
DEV_ONLY = ["pytest", "mypy", "schemathesis", "hypothesis", "ruff", "openai", "llama_api_client"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GUIDE_FILE", "VIRTUAL_ENV") and not k.startswith(("PYTEST_", "MAKE"))}
    return {**env, **extra}


def clone(into: Path) -> Path:
    into.mkdir()
    repo = into / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)], check=True)
    assert [p.name for p in into.iterdir()] == ["repo"]
    return repo


def test_markdown_links_stay_inside_the_repo_and_resolve() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout.split()
    broken = []
    for name in tracked:
        doc = ROOT / name
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a URL or an anchor in the same page
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{name}: {target}")
    assert broken == []


def test_no_tracked_file_names_a_path_outside_the_repo() -> None:
    """Code, tests and docs must not read or cite files beside the checkout (a user's clone has none)."""
    if ROOT.parent in (Path("/"), Path(tempfile.gettempdir())):
        pytest.skip(f"the checkout sits directly in {ROOT.parent}, whose paths code may name for its own use")
    outside = f"{ROOT.parent}/"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    offenders = []
    for name in filter(None, tracked.decode().split("\0")):
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary
        if outside in text.replace(str(ROOT), ""):
            offenders.append(name)
    assert offenders == []


def test_suite_parts_that_read_files_pass_in_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    repo = clone(tmp_path / "empty")
    (repo / "gen" / "python").mkdir(parents=True)
    subprocess.run([PYTHON, "-m", "grpc_tools.protoc", "-Iproto", "--python_out=gen/python",
                    "--pyi_out=gen/python", "--grpc_python_out=gen/python", "proto/ainative/chat/v1/chat.proto"],
                   cwd=repo, check=True, env=clean_env(), capture_output=True)
    where = subprocess.run([PYTHON, "-c", "import service, tests; print(service.__file__, tests.__file__)"],
                           cwd=repo, check=True, env=clean_env(), capture_output=True, text=True).stdout
    assert where.split() == [str(repo / "service" / "__init__.py"), str(repo / "tests" / "__init__.py")]
    run = subprocess.run(
        [PYTHON, "-m", "pytest", "-o", "addopts=", "-q", "-rs", "-p", "no:cacheprovider", "tests/unit", "tests/test_guide_fixtures.py",
         "tests/integration/test_tools.py", "tests/integration/test_guide_requests.py"],
        cwd=repo, env=clean_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"^\d+ passed, 1 skipped", run.stdout, re.M), run.stdout[-2000:]
    assert "SKIPPED [1] tests/test_guide_fixtures.py" in run.stdout
    assert "is not beside this clone" in run.stdout


async def run(*argv: str, cwd: Path, seconds: float = 60) -> tuple[int, str, str]:
    """A subprocess that leaves the event loop free (the emulators it talks to run on it)."""
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=clean_env(), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), seconds)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_make_run_in_a_fresh_clone_installs_the_runtime_set_only_and_the_readme_grpc_snippets_work(
    tmp_path: Path, anthropic_emu: AnthropicEmulator, llama_emu: LlamaEmulator
) -> None:
    repo = clone(tmp_path / "empty")
    http_port, grpc_port = free_port(), free_port()
    env = clean_env(HTTP_PORT=str(http_port), GRPC_PORT=str(grpc_port), DATA_DIR=str(tmp_path / "data"),
                    ANTHROPIC_BASE_URL=anthropic_emu.base_url, META_API_BASE_URL=llama_emu.base_url,
                    ANTHROPIC_API_KEY="sk-ant-fresh-clone-test", META_API_KEY="LLM-fresh-clone-test",
                    LOG_FORMAT="json")
    started = time.monotonic()
    make = await asyncio.create_subprocess_exec("make", "run", cwd=repo, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    assert make.stdout is not None
    output = asyncio.create_task(make.stdout.read())  # drained all along, so make never blocks on a full pipe
    try:
        async with aiohttp.ClientSession() as http:
            while True:
                assert make.returncode is None, f"make run exited {make.returncode}"
                assert time.monotonic() - started < 540, "make run did not serve within 9 minutes"
                try:
                    async with http.get(f"http://127.0.0.1:{http_port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
        print(f"make run in a fresh clone: serving after {time.monotonic() - started:.1f} s")

        venv_python = str(repo / ".venv" / "bin" / "python")
        code, out, err = await run(venv_python, "-c", "import importlib.util as u, sys; "
                                   "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))",
                                   *DEV_ONLY, "grpc_tools", cwd=tmp_path)
        assert code == 0, err
        assert out.split() == ["grpc_tools"]

        # The README's gRPC snippets, as written, run by the clone's python from another folder.
        readme = (repo / "README.md").read_text(encoding="utf-8")
        snippets = [s for s in re.findall(r"```python\n(.*?)```", readme, re.S) if "grpc.aio" in s]
        assert len(snippets) == 2
        outputs = []
        for snippet in snippets:
            script = tmp_path / "snippet.py"
            script.write_text(snippet.replace("127.0.0.1:50051", f"127.0.0.1:{grpc_port}"), encoding="utf-8")
            code, out, err = await run(venv_python, str(script), cwd=tmp_path)
            assert code == 0, err[-2000:]
            outputs.append(out)
        assert outputs[0] == "Hello from the Llama-3.3-70B-Instruct emulator. You said: Hello!\n"
        streamed, tokens = outputs[1].rsplit("\ntokens: ", 1)
        assert streamed == "Hello from the claude-sonnet-4-5-20250929 emulator. You said: Hello!"  # the provider id
        assert int(tokens) > 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(make.wait(), 30)
        except TimeoutError:
            os.killpg(make.pid, signal.SIGKILL)
            await make.wait()
    log = (await output).decode(errors="replace")
    assert "Traceback" not in log, log[-3000:]
