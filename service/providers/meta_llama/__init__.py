"""Meta's Llama API, native `POST /chat/completions` (docs/wire-formats.md §2)."""

from __future__ import annotations

from service.providers.capabilities import Capabilities
from service.providers.spec import ProviderSpec, lazy_adapter

SPEC = ProviderSpec(
    name="meta_llama",
    label="Meta Llama API",
    key_variables=("META_API_KEY", "LLAMA_API_KEY"),
    base_url_variable="META_API_BASE_URL",
    default_base_url="https://api.llama.com/v1",
    model_prefixes=("llama-",),
    adapter=lazy_adapter("service.providers.meta_llama.adapter", "MetaLlamaProvider"),
    # the native API has no stop sequences and no parallel_tool_calls switch
    capabilities=Capabilities(parallel_tool_calls=False, stop_sequences=False, temperature_max=1.0),
    # max_completion_tokens is 1..4028 whatever the model
    max_output_tokens=4028,
    max_tokens_field="max_completion_tokens",
    request_id_header="x-request-id",
)
