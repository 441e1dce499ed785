"""Provider emulators (Anthropic Messages API, Meta Llama API native, OpenAI Chat Completions) for tests and
benchmarks.

from tests.emulators import AnthropicEmulator, LlamaEmulator, Turn, ToolCall, Fault

async with AnthropicEmulator() as emu:
    emu.enqueue(Turn(text="Hi", usage=(10, 3)))
    ...  # point a client at emu.base_url
"""

from .anthropic import AnthropicEmulator
from .common import ChatView, Emulator, Fault, RecordedRequest, ToolCall, Turn, mock_turn
from .llama import LlamaEmulator
from .openai_compat import OpenAICompatEmulator

__all__ = [
    "AnthropicEmulator",
    "ChatView",
    "Emulator",
    "Fault",
    "LlamaEmulator",
    "OpenAICompatEmulator",
    "RecordedRequest",
    "ToolCall",
    "Turn",
    "mock_turn",
]
