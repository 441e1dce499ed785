"""What the gateway knows of a provider, as data: one `ProviderSpec` per provider folder.

A spec names the provider, the settings it reads (its key and base-URL variables), the model ids it owns
(by prefix), what it can honour (`Capabilities`, read by the request rules), how its in-stream errors map
to HTTP statuses, and how to build its adapter. The registry (`service.providers`) holds the specs; the
core, the configuration, the model catalog and the error classification read it, so adding a provider is
one new folder (its spec, adapter and translation) plus catalog rows.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from service.providers.capabilities import Capabilities

if TYPE_CHECKING:
    from service.providers.base import Provider
    from service.providers.http import HttpPool

# Provider error types -> the HTTP status they stand for, for errors that arrive inside a stream (after the
# 200), where there is no status to go by. Anthropic's vocabulary, which the Llama API shares.
ERROR_TYPE_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What an adapter reads from the configuration: resolved by the registry from the spec's variables."""

    base_url: str  # without a trailing slash
    api_key: str | None = field(repr=False)  # the server-side key, if configured
    timeout_s: float  # UPSTREAM_TIMEOUT_S
    max_retries: int  # UPSTREAM_MAX_RETRIES


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str  # the `provider` value in requests and answers, e.g. "anthropic"
    label: str  # how messages name it, e.g. "Anthropic"
    # the variables holding the server-side key, the first set one wins (names end in _API_KEY)
    key_variables: tuple[str, ...]
    base_url_variable: str  # ends in _BASE_URL
    default_base_url: str
    # model ids starting with one of these (case-insensitive) belong to this provider
    model_prefixes: tuple[str, ...]
    # builds the adapter: (its spec, its settings, the process's upstream pool) -> Provider
    adapter: Callable[[ProviderSpec, ProviderSettings, HttpPool], Provider] = field(repr=False)
    capabilities: Capabilities = Capabilities()
    # the most output tokens the provider accepts for any model, where it publishes one: it bounds ids
    # the catalog does not know
    max_output_tokens: int | None = None
    # the request field carrying the output cap, as the provider names it in its 400s
    max_tokens_field: str = "max_tokens"
    request_id_header: str = "x-request-id"  # the response header with the provider's own request id
    error_type_status: Mapping[str, int] = field(default_factory=lambda: ERROR_TYPE_STATUS)

    def owns(self, model: str) -> bool:
        return model.lower().startswith(self.model_prefixes)


AdapterFactory = Callable[[ProviderSpec, ProviderSettings, "HttpPool"], "Provider"]


def lazy_adapter(module: str, cls: str) -> AdapterFactory:
    """An adapter factory that imports `module` only when the adapter is built, so that reading the registry
    (the model catalog, the OpenAPI document of a standalone bridge) loads no adapter, SDK or transport."""

    def build(spec: ProviderSpec, settings: ProviderSettings, pool: HttpPool) -> Provider:
        return getattr(importlib.import_module(module), cls)(spec, settings, pool)  # type: ignore[no-any-return]

    return build
