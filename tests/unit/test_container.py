"""The image cannot be built here (no container engine): check its recipe against the repo instead."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()

# import name -> distribution, for every third-party module the service and bridge import
DISTRIBUTIONS = {
    "grpc": "grpcio", "grpc_health": "grpcio-health-checking", "grpc_reflection": "grpcio-reflection",
    "grpc_status": "grpcio-status", "google": "protobuf", "aiohttp": "aiohttp", "anthropic": "anthropic",
    "structlog": "structlog", "orjson": "orjson", "uvloop": "uvloop", "jsonschema": "jsonschema", "jwt": "PyJWT",
    "cryptography": "cryptography", "asyncpg": "asyncpg", "prometheus_client": "prometheus-client",
    "redis": "redis",
}
LOCAL = {"service", "bridge", "ainative"}


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_multi_stage_slim_non_root_with_healthcheck() -> None:
    steps = instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) == 2 and all(f.startswith("python:3.11-slim") for f in froms)
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(arg for op, arg in final if op == "ENV")
    assert "BIND_HOST=0.0.0.0" in env
    health = [arg for op, arg in final if op == "HEALTHCHECK"]
    assert health and "127.0.0.1:8080/healthz" in health[0]
    assert {"8080", "50051"} <= set(" ".join(arg for op, arg in final if op == "EXPOSE").split())
    copies = [arg for op, arg in final if op == "COPY"]
    assert not any("tests" in c for c in copies)


def test_image_runs_the_readme_entry_points() -> None:
    cmd = next(arg for op, arg in reversed(instructions()) if op == "CMD")
    assert cmd == '["python", "-m", "service"]'
    run_target = re.search(r"^run: .*\n\t(.*)$", MAKEFILE, re.M).group(1)  # type: ignore[union-attr]
    assert run_target.endswith("python -m service")
    readme = (ROOT / "README.md").read_text()
    for entry in ("python -m service", "python -m bridge", "python -m service --grpc-only"):
        assert entry in readme and entry in DOCKERFILE


def test_code_generation_matches_make() -> None:
    def protoc_flags(text: str) -> list[str]:
        line = re.search(r"grpc_tools\.protoc (.*?)(?:\$\(PROTOS\)|\$\(find)", re.sub(r"\\\n\s*", " ", text))
        assert line, "no protoc invocation"
        return sorted(f.split("=")[0] for f in shlex.split(line.group(1)))

    assert protoc_flags(DOCKERFILE) == protoc_flags(MAKEFILE)
    tools_pin = re.search(r"grpcio-tools==([\d.]+)", DOCKERFILE).group(1)  # type: ignore[union-attr]
    assert f"grpcio-tools=={tools_pin}" in (ROOT / "requirements-build.txt").read_text()


def test_runtime_requirements_cover_every_import_of_service_and_bridge() -> None:
    imported: set[str] = set()
    for path in [*ROOT.glob("service/**/*.py"), *ROOT.glob("bridge/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    import sys

    third_party = imported - LOCAL - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party <= set(DISTRIBUTIONS), f"map these to their distributions: {third_party - set(DISTRIBUTIONS)}"
    pinned = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert {DISTRIBUTIONS[m].lower() for m in third_party} <= pinned
    assert "COPY requirements.txt" in DOCKERFILE and "-r requirements.txt" in DOCKERFILE


def test_the_pinned_redoc_bundle_is_installed_without_its_dependencies() -> None:
    """/docs serves Redoc from star-openapi-redoc (requirements-docs.txt), which declares a whole web framework
    as its dependency: make and the image install it into the runtime venv with --no-deps."""
    from bridge.openapi import REDOC_VERSION

    pins = [line for line in (ROOT / "requirements-docs.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert pins == [f"star-openapi-redoc=={REDOC_VERSION}"]
    assert re.search(r"^\$\(RUN_DEPS\):.*requirements-docs\.txt", MAKEFILE, re.M)
    assert re.search(r"^\t\$\(BIN\)/pip install [^\n]*--no-deps -r requirements-docs\.txt$", MAKEFILE, re.M)
    assert re.search(r"^COPY [^\n]*requirements-docs\.txt", DOCKERFILE, re.M)
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    assert re.search(r"/venv/bin/pip install [^&\n]*--no-deps -r requirements-docs\.txt", joined)


LIMIT_VARIABLES = ("RATE_LIMIT_RPM", "RATE_LIMIT_TPM", "BUDGET_USD_PER_DAY", "MAX_CONCURRENT", "LIMITS_FILE")


def test_compose_runs_two_replicas_behind_nginx_with_one_postgres_and_one_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = [name for name, s in services.items() if s.get("build") == "."]
    assert len(replicas) == 2
    for name in replicas:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        # one Redis shared by both replicas (same URL), started and healthy before either
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        # the limits come from the environment, as the other settings do
        for variable in LIMIT_VARIABLES:
            assert re.fullmatch(rf"\$\{{{variable}:-[^}}]*\}}", str(env[variable])), variable
    assert len({services[name]["environment"]["REDIS_URL"] for name in replicas}) == 1
    assert services["postgres"]["image"].startswith("postgres:")
    redis = services["redis"]
    assert redis["image"] == "redis:7" and "volumes" not in redis  # counters only: no persistence
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])
    assert services["nginx"]["ports"] == ["8080:8080", "50051:50051"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    for name in replicas:
        assert f"server {name}:8080;" in nginx and f"server {name}:50051;" in nginx
    assert "proxy_buffering off;" in nginx and "grpc_pass" in nginx
