"""What the official `anthropic` SDK sends: asked of the SDK itself, in a short-lived child process.

The SDK decides the Messages URL for a base URL, the header that carries a key and
`anthropic-version`; we take all three from it so the adapter keeps up with the
SDK pinned in requirements.txt. We ask in a child process because importing the
SDK costs the importing process ~75 MB of resident memory (its pydantic models),
half of the gateway's 150 MB budget, for a dictionary we need once.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass

KEY_PLACEHOLDER = "__GATEWAY_KEY_PLACEHOLDER__"

_PROBE = """
import json, sys
import anthropic
client = anthropic.AsyncAnthropic(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0)
print(json.dumps({"headers": dict(client.default_headers), "auth": dict(client.auth_headers)}))
"""


@dataclass(frozen=True, slots=True)
class RequestShape:
    headers: dict[str, str]  # every header the SDK sends, the key in it as KEY_PLACEHOLDER
    auth_names: tuple[str, ...]  # which of them carry the key

    def headers_for(self, api_key: str) -> dict[str, str]:
        return {k: (v.replace(KEY_PLACEHOLDER, api_key) if k in self.auth_names else v)
                for k, v in self.headers.items()}


def messages_url(base_url: str) -> str:
    """The SDK joins its paths (`/v1/messages`) onto the base URL."""
    return base_url.rstrip("/") + "/v1/messages"


@functools.lru_cache(maxsize=1)
def probe() -> RequestShape:
    """The SDK's headers, asked once per process (they do not depend on the base URL)."""
    # a clean environment: the SDK must not pick up keys or base URLs of its own from ours
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE, "https://api.anthropic.com", KEY_PLACEHOLDER], env=env,
                             check=True, capture_output=True, text=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        raise RuntimeError(f"could not ask the anthropic SDK for its request headers: {exc}") from None
    found = json.loads(out.stdout)
    headers = {k: v for k, v in found["headers"].items() if isinstance(v, str)}
    return RequestShape(headers, tuple(found["auth"]))
