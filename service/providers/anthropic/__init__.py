"""Anthropic's Messages API (docs/wire-formats.md §1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.providers.capabilities import Capabilities
from service.providers.spec import ProviderSettings, ProviderSpec

if TYPE_CHECKING:
    from service.providers.base import Provider
    from service.providers.http import HttpPool


def _adapter(spec: ProviderSpec, settings: ProviderSettings, pool: HttpPool) -> Provider:
    from service.providers.anthropic.adapter import AnthropicProvider

    return AnthropicProvider(spec, settings, pool)


SPEC = ProviderSpec(
    name="anthropic",
    label="Anthropic",
    key_variables=("ANTHROPIC_API_KEY",),
    base_url_variable="ANTHROPIC_BASE_URL",
    default_base_url="https://api.anthropic.com",
    model_prefixes=("claude-",),
    adapter=_adapter,
    capabilities=Capabilities(),
    # the output limit is per model (4K to 128K): an id the catalog does not know is left to the API
    max_output_tokens=None,
    max_tokens_field="max_tokens",
    request_id_header="request-id",
)
