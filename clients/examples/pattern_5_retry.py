"""Advanced Pattern 5 of the guide: retry with exponential backoff.

Retried: connection errors and timeouts, HTTP 429 and 5xx (the gateway answers 502 when the provider kept
failing, 503 when it is overloaded, 429 when rate-limited). Never retried: other 4xx (the request itself is
wrong; sending it again cannot help). A Retry-After header from the gateway is honoured instead of the backoff.

Environment: EXAMPLES_RETRY_ATTEMPTS (attempts in all, default 3 as in the guide), EXAMPLES_RETRY_BASE_DELAY
(seconds, default 1: waits 1, 2, 4, ...), EXAMPLES_RETRY_MAX_DELAY (cap of any wait, default 30).

GATEWAY_URL=http://127.0.0.1:8080 python clients/examples/pattern_5_retry.py
"""

import asyncio
import email.utils
import os
import time

import httpx
from agent_loop import GatewayHTTPError, chat_url, check_response, run

PAYLOAD = {
    "provider": "meta_llama",
    "model": "Llama-3.3-70B-Instruct",
    "messages": [{"role": "user", "content": "Hello! What is 2+2?"}],
    "temperature": 0.7,
    "max_tokens": 500,
}


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (a number of seconds, or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def is_retryable(exc: Exception) -> bool:
    if isinstance(exc, GatewayHTTPError):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, httpx.TransportError)  # connection refused/reset, timeouts


async def chat_with_retry(max_retries=3, base_delay=1.0, max_delay=30.0):
    for attempt in range(max_retries):
        try:
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    chat_url(), headers={"Content-Type": "application/json"}, json=PAYLOAD, timeout=60.0
                )
                return check_response(response)
        except (GatewayHTTPError, httpx.TransportError) as e:
            if not is_retryable(e) or attempt == max_retries - 1:
                raise

            wait_time = base_delay * 2 ** attempt  # Exponential backoff
            told = retry_after_seconds(e.retry_after) if isinstance(e, GatewayHTTPError) else None
            if told is not None:
                wait_time = told
            wait_time = min(wait_time, max_delay)
            reason = str(e) or type(e).__name__
            hint = " (Retry-After)" if told is not None else ""
            print(f"Attempt {attempt + 1} failed ({reason}), retrying in {wait_time:g}s{hint}...")
            await asyncio.sleep(wait_time)


async def main():
    result = await chat_with_retry(
        max_retries=int(os.environ.get("EXAMPLES_RETRY_ATTEMPTS", "3")),
        base_delay=float(os.environ.get("EXAMPLES_RETRY_BASE_DELAY", "1.0")),
        max_delay=float(os.environ.get("EXAMPLES_RETRY_MAX_DELAY", "30")),
    )
    print(result["choices"][0]["message"]["content"])


if __name__ == "__main__":
    run(main())
