"""What a provider can honour, as data: the request rules that differ by provider read it (service/validate.py).

Every field defaults to the permissive value, so `Capabilities()` describes a provider that takes whatever
OpenAI's chat-completions API takes; a provider narrows it field by field. A request asking for something
its provider cannot honour is refused before any call (a parameter it cannot carry: 400
`unsupported_parameter`; a value it refuses: 400 `invalid_request`), never silently changed or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    streaming: bool = True
    images: bool = True
    tools: bool = True
    # `parallel_tool_calls: false` can be honoured (the provider has a switch for it); true is every
    # provider's default behaviour
    parallel_tool_calls: bool = True
    stop_sequences: bool = True
    top_k: bool = True  # sampling from the k most likely tokens (OpenAI itself has no top_k)
    # the highest temperature the provider takes (OpenAI's range is 0-2; Anthropic and the Llama API stop at 1)
    temperature_max: float = 2.0
    # the media types an image given as a data: URL may have; None: any
    image_media_types: frozenset[str] | None = None
    # a user message may have no content at all (no image, no non-empty text)
    empty_user_content: bool = True
    # a conversation may have no turn once system/developer messages are set aside (they travel apart
    # from the turns for some providers) and assistant messages with nothing to say are dropped
    empty_conversation: bool = True
    # `user` (or metadata.user_id) may look like an e-mail address; False: it must be an opaque id
    email_user_ids: bool = True
