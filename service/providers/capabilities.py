"""What a provider can honour, as data: the request rules that differ by provider read it (service/validate.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    streaming: bool = True
    images: bool = True
    tools: bool = True
    parallel_tool_calls: bool = True
    stop_sequences: bool = True
