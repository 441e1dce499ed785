"""A standalone bridge (`python -m bridge`) reaches the service over gRPC: it must not load the core.

Importing the bridge's modules must leave the service's heavy modules out (the core, the providers'
adapters and their SDKs, the usage ledger, the limits, auth, and the libraries behind them); the in-process
client that calls the core lives in `service/inprocess.py`, imported only by the one-process gateway. Each
check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("service.core", "service.providers", "service.ledger", "service.limits", "service.auth")
# The provider registry's data may load (the OpenAPI document lists the providers by name): the registry,
# the spec and capabilities types, and each provider package's spec; never an adapter or the transport.
REGISTRY_DATA = ("service.providers", "service.providers.spec", "service.providers.capabilities",
                 "service.providers.anthropic", "service.providers.meta_llama")
# what those modules would bring along: a provider SDK, the ledger's and the limits' drivers, JWT
HEAVY_LIBRARIES = ("anthropic", "llama_api_client", "asyncpg", "redis", "jwt")
BRIDGE_MODULES = ("bridge", "bridge.app", "bridge.client", "bridge.__main__")


def loaded_modules(*modules: str) -> list[str]:
    """The modules of `service` (and the heavy libraries) a fresh interpreter has loaded after `modules`."""
    roots = ("service", *HEAVY_LIBRARIES)
    code = (f"import json, sys\nfor name in {list(modules)!r}:\n    __import__(name)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if m not in REGISTRY_DATA and (
        m.split(".")[0] in HEAVY_LIBRARIES or any(m == f or m.startswith(f + ".") for f in FORBIDDEN))]


def test_the_standalone_bridge_does_not_import_the_core() -> None:
    bad = forbidden(loaded_modules(*BRIDGE_MODULES))
    assert bad == [], f"the bridge pulls in {len(bad)} heavy modules: {bad[:20]}"


@pytest.mark.parametrize("module", BRIDGE_MODULES)
def test_each_bridge_module_alone(module: str) -> None:
    assert forbidden(loaded_modules(module)) == []


def test_the_check_sees_the_core() -> None:
    """The one-process gateway's in-process client does load the core: the check is not vacuous."""
    assert "service.core" in forbidden(loaded_modules("service.inprocess"))
