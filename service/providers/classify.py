"""Provider HTTP failures -> GatewayError, decided once for every adapter.

The provider's own message is kept (it tells the user what was wrong) but
scrubbed of anything key-shaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from service import providers as registry
from service.errors import GatewayError, scrub
from service.providers.spec import ERROR_TYPE_STATUS


def provider_message(body: Any) -> str:
    """The human message inside a provider error body, whatever its shape."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        for key in ("detail", "message", "title"):
            if isinstance(body.get(key), str):
                return body[key]
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body.strip()[:500]
    return ""


def classify_status(
    provider: str, status: int, body: Any, *, model: str, retry_after: str | None = None, api_key: str | None = None
) -> GatewayError:
    label = registry.label(provider)
    detail = scrub(provider_message(body), api_key)
    said = f": {detail}" if detail else ""
    if status == 401:
        return GatewayError("invalid_api_key", f"{label} rejected the API key{said}")
    if status in (402, 403):
        return GatewayError("permission_denied", f"{label} denied the request{said}")
    if status == 404:
        return GatewayError("model_not_found", f"Model {model!r} was not found at {label}{said}", param="model")
    if status == 408 or status == 504:
        return GatewayError("upstream_timeout", f"{label} timed out{said}", retryable=True)
    if status == 413:
        return GatewayError("request_too_large", f"{label} says the request is too large{said}")
    if status == 429:
        return GatewayError("rate_limited", f"{label} rate limit reached{said}", retry_after=retry_after,
                            retryable=True)
    if status == 529:
        return GatewayError("provider_overloaded", f"{label} is overloaded{said}", retry_after=retry_after,
                            retryable=True)
    if status == 409 or status >= 500:
        return GatewayError("upstream_error", f"{label} returned HTTP {status}{said}", retry_after=retry_after,
                            retryable=True)
    return GatewayError("invalid_request", f"{label} rejected the request{said}")


def name_field(err: GatewayError, fields: Mapping[str, str]) -> GatewayError:
    """Give a provider's 400 that names one of its request fields the `param` of the caller's field.

    `fields` maps the provider's field name to the name the caller used (the Llama API's
    `max_completion_tokens` and Anthropic's `max_tokens` both stand for whichever of max_tokens /
    max_completion_tokens the caller sent). The providers' messages start with the field's path
    ("max_tokens: 5000 > 4096, ...", "max_completion_tokens: must be an integer between 1 and 4028")
    or quote it ("`max_tokens` must be greater than ..."); a nested path (`thinking.budget_tokens`)
    is not that field. Other errors, and errors that already name a param, are left alone.
    """
    if err.code != "invalid_request" or err.param is not None:
        return err
    for provider_field, caller_param in fields.items():
        if re.search(rf"(?<![\w.]){re.escape(provider_field)}(?![\w.])", err.message):
            err.param = caller_param
            break
    return err


def connection_error(provider: str) -> GatewayError:
    return GatewayError("upstream_error", f"Could not reach {registry.label(provider)}", retryable=True)


def timeout_error(provider: str) -> GatewayError:
    return GatewayError("upstream_timeout", f"{registry.label(provider)} did not answer in time",
                        retryable=True)


def bad_response(provider: str) -> GatewayError:
    # not retried: the provider did the (billed) work; a second call may not be idempotent
    return GatewayError("upstream_error", f"{registry.label(provider)} sent a malformed response")


def stream_error(provider: str, body: Any, *, model: str, api_key: str | None) -> GatewayError:
    """An error event received mid-stream (Anthropic `event: error`, Llama API `event: error`): its HTTP-like
    code, else its type in the provider's vocabulary (`ProviderSpec.error_type_status`)."""
    err = body.get("error") if isinstance(body, dict) else None
    status = 500
    if isinstance(err, dict):
        code = err.get("code")
        if isinstance(code, int) and 400 <= code <= 599:
            status = code
        else:
            spec = registry.get(provider)
            vocabulary = spec.error_type_status if spec is not None else ERROR_TYPE_STATUS
            status = vocabulary.get(str(err.get("type")), 500)
    return classify_status(provider, status, body, model=model, api_key=api_key)


def dropped_stream(provider: str) -> GatewayError:
    return GatewayError("upstream_error", f"The connection to {registry.label(provider)} dropped mid-stream")
