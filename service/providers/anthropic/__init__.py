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
    capabilities=Capabilities(
        # image blocks take these; application/pdf travels as a document block (docs/wire-formats.md §4.2 step 4)
        image_media_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}),
        empty_user_content=False,  # a user turn needs at least one block (empty text blocks are refused, pitfall 1)
        empty_conversation=False,  # system prompts travel apart from `messages`, which must not be empty
        email_user_ids=False,  # metadata.user_id must be opaque (pitfall 6)
        temperature_max=1.0,
    ),
    # the output limit is per model (4K to 128K): an id the catalog does not know is left to the API
    max_output_tokens=None,
    max_tokens_field="max_tokens",
    request_id_header="request-id",
)
