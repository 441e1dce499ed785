"""Anthropic's Messages API (docs/wire-formats.md §1)."""

from __future__ import annotations

from service.providers.capabilities import Capabilities
from service.providers.spec import ProviderSpec, lazy_adapter

SPEC = ProviderSpec(
    name="anthropic",
    label="Anthropic",
    key_variables=("ANTHROPIC_API_KEY",),
    base_url_variable="ANTHROPIC_BASE_URL",
    default_base_url="https://api.anthropic.com",
    model_prefixes=("claude-",),
    adapter=lazy_adapter("service.providers.anthropic.adapter", "AnthropicProvider"),
    capabilities=Capabilities(),
    # the output limit is per model (4K to 128K): an id the catalog does not know is left to the API
    max_output_tokens=None,
    max_tokens_field="max_tokens",
    request_id_header="request-id",
)
