"""A test-only provider: any server speaking OpenAI's `POST /v1/chat/completions` (docs/wire-formats.md §3).

It lives under tests/ and is registered from the suite (`service.providers.register(SPEC)`), to show that a
provider is one folder (this spec, an adapter, pure translation) and touches nothing in the core. It is
pointed at tests/emulators/openai_compat.py.
"""

from __future__ import annotations

from service.providers.capabilities import Capabilities
from service.providers.spec import ProviderSpec, lazy_adapter

# OpenAI's error `type`s -> the status they stand for, for an error that arrives inside a stream (its `code`
# is a string such as "rate_limit_exceeded", never a status). 429s are typed by what ran out.
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
    "not_found_error": 404, "requests": 429, "tokens": 429, "insufficient_quota": 429,
    "rate_limit_error": 429, "server_error": 500, "service_unavailable": 503,
}

SPEC = ProviderSpec(
    name="openai_compat",
    label="OpenAI-compatible test provider",
    key_variables=("OPENAI_COMPAT_API_KEY",),
    base_url_variable="OPENAI_COMPAT_BASE_URL",
    # OpenAI's own convention: the base URL ends in /v1 (OPENAI_BASE_URL)
    default_base_url="http://127.0.0.1:9103/v1",
    model_prefixes=("compat-",),
    adapter=lazy_adapter("tests.providers.openai_compat.adapter", "OpenAICompatProvider"),
    # A text-only model behind an OpenAI-compatible server (common with self-hosted ones): the one
    # capability that differs from the built-in providers, so the conformance suite has a provider whose
    # spec, not its name, makes an image a refusal.
    capabilities=Capabilities(images=False, top_k=False),  # OpenAI has no top_k
    max_output_tokens=16_384,
    max_tokens_field="max_tokens",
    request_id_header="x-request-id",
    error_type_status=ERROR_TYPE_STATUS,
)
