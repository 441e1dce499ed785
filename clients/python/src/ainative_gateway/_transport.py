"""What a call carries besides its body, and the pieces both transports share."""

from __future__ import annotations

from dataclasses import dataclass

from ainative_gateway._version import __version__

USER_AGENT = f"ainative-gateway-python/{__version__}"


@dataclass(frozen=True)
class CallOptions:
    token: str | None = None
    provider_key: str | None = None
    request_id: str | None = None
    timeout: float | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """(lower-case name, value) of the headers / gRPC metadata this call sends."""
        out = []
        if self.token:
            token = self.token.strip()
            out.append(("authorization", token if token.lower().startswith("bearer ") else f"Bearer {token}"))
        if self.provider_key:
            out.append(("x-provider-key", self.provider_key))
        if self.request_id:
            out.append(("x-request-id", self.request_id))
        return out
