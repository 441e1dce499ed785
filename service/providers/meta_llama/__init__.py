"""Meta's Llama API, native `POST /chat/completions` (docs/wire-formats.md §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.providers.capabilities import Capabilities
from service.providers.spec import ProviderSettings, ProviderSpec

if TYPE_CHECKING:
    from service.providers.base import Provider
    from service.providers.http import HttpPool


def _adapter(spec: ProviderSpec, settings: ProviderSettings, pool: HttpPool) -> Provider:
    from service.providers.meta_llama.adapter import MetaLlamaProvider

    return MetaLlamaProvider(spec, settings, pool)


SPEC = ProviderSpec(
    name="meta_llama",
    label="Meta Llama API",
    key_variables=("META_API_KEY", "LLAMA_API_KEY"),
    base_url_variable="META_API_BASE_URL",
    default_base_url="https://api.llama.com/v1",
    model_prefixes=("llama-",),
    adapter=_adapter,
    # the native API has no stop sequences and no parallel_tool_calls switch
    capabilities=Capabilities(parallel_tool_calls=False, stop_sequences=False),
    # max_completion_tokens is 1..4028 whatever the model
    max_output_tokens=4028,
    max_tokens_field="max_completion_tokens",
    request_id_header="x-request-id",
)
