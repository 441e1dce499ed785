"""Python client for the AINative chat-completion gateway, over REST or gRPC.

    from ainative_gateway import GatewayClient

    with GatewayClient("http://127.0.0.1:8080", model="claude-sonnet-4-5") as client:
        print(client.chat("Hello!").content)
        for chunk in client.stream("Tell me a story"):
            print(chunk.text, end="", flush=True)
"""

from ainative_gateway._version import __version__
from ainative_gateway.client import DEFAULT_GRPC_TARGET, DEFAULT_URL, AsyncGatewayClient, GatewayClient
from ainative_gateway.errors import (
    GatewayConnectionError,
    GatewayError,
    GatewayTimeoutError,
    InternalError,
    InvalidApiKeyError,
    InvalidRequestError,
    InvalidTokenError,
    InvalidToolSchemaError,
    MaxIterationsExceededError,
    MethodNotAllowedError,
    MissingApiKeyError,
    MissingTokenError,
    ModelNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    ProviderOverloadedError,
    RateLimitedError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnsupportedProviderError,
    UpstreamError,
    UpstreamTimeoutError,
)
from ainative_gateway.results import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    DayUsage,
    Delta,
    Message,
    Model,
    ModelUsage,
    Pricing,
    StreamAssembler,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
    UsageTotals,
)

#: the transport-failure error under the name the issue uses (not exported by ``*``: it shadows the builtin)
ConnectionError = GatewayConnectionError  # noqa: A001

__all__ = [
    "DEFAULT_GRPC_TARGET",
    "DEFAULT_URL",
    "AsyncGatewayClient",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "DayUsage",
    "Delta",
    "GatewayClient",
    "GatewayConnectionError",
    "GatewayError",
    "GatewayTimeoutError",
    "InternalError",
    "InvalidApiKeyError",
    "InvalidRequestError",
    "InvalidTokenError",
    "InvalidToolSchemaError",
    "MaxIterationsExceededError",
    "Message",
    "MethodNotAllowedError",
    "MissingApiKeyError",
    "MissingTokenError",
    "Model",
    "ModelNotFoundError",
    "ModelUsage",
    "NotFoundError",
    "PermissionDeniedError",
    "Pricing",
    "ProviderOverloadedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ServiceUnavailableError",
    "StreamAssembler",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "UnsupportedProviderError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "Usage",
    "UsageReport",
    "UsageTotals",
    "__version__",
]
