"""The Anthropic adapter's request headers are exactly what the official SDK would send."""

from __future__ import annotations

import anthropic

from service.providers.anthropic.sdk_shape import messages_url, probe


def test_headers_equal_the_sdks_own_for_any_key() -> None:
    shape = probe()
    for key in ("sk-ant-test-server-key", "sk-ant-test-someone-elses"):
        sdk = anthropic.AsyncAnthropic(api_key=key, base_url="http://127.0.0.1:9", max_retries=0)
        expected = {k: v for k, v in sdk.default_headers.items() if isinstance(v, str)}
        assert shape.headers_for(key) == expected
    assert "anthropic-version" in shape.headers and shape.auth_names


def test_messages_url_joins_like_the_sdk() -> None:
    for base in ("https://api.anthropic.com", "http://127.0.0.1:9101/", "http://proxy.test/anthropic"):
        sdk = anthropic.AsyncAnthropic(api_key="k", base_url=base)
        assert messages_url(base) == str(sdk._prepare_url("/v1/messages"))  # the SDK's own URL joining
