"""The model catalog: the guide's models, their provider ids, limits, prices and release dates.

Ids the catalog does not know pass through to the provider unchanged, with the
provider inferred from the id; their output limit is then the provider's own
ceiling where it publishes one (PROVIDER_MAX_OUTPUT), else the provider's business.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from ainative.chat.v1 import chat_pb2 as pb

from service.errors import GatewayError, invalid

PROVIDERS = ("meta_llama", "anthropic")

# Without a client value, max_tokens is min(DEFAULT_MAX_TOKENS, model max output).
DEFAULT_MAX_TOKENS = 4096

# The most output tokens a provider accepts for any of its models, where it publishes one; it bounds
# ids the catalog does not know. The Llama API takes max_completion_tokens 1..4028 whatever the model;
# Anthropic's limit is per model (4K to 128K), so an unknown claude id is left to the API.
PROVIDER_MAX_OUTPUT: dict[str, int | None] = {"meta_llama": 4028, "anthropic": None}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    provider: str
    provider_model_id: str
    context_window: int | None
    max_output_tokens: int | None
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    # the release day, YYYY-MM-DD (UTC): OpenAI's `created` for the entry ("" for pass-through ids)
    released: str = ""
    # the provider's ceiling, for a pass-through id whose own max output is unknown
    provider_max_output: int | None = None

    @property
    def output_limit(self) -> int | None:
        """The most output tokens a request may ask for, when known."""
        return self.max_output_tokens if self.max_output_tokens is not None else self.provider_max_output

    @property
    def default_max_tokens(self) -> int:
        limit = self.output_limit
        return DEFAULT_MAX_TOKENS if limit is None else min(DEFAULT_MAX_TOKENS, limit)

    @property
    def created(self) -> int:
        """Unix seconds of the release day at 00:00 UTC (0 when unknown)."""
        if not self.released:
            return 0
        return calendar.timegm(dt.date.fromisoformat(self.released).timetuple())

    def to_proto(self) -> pb.Model:
        return pb.Model(
            id=self.id,
            provider=self.provider,
            provider_model_id=self.provider_model_id,
            context_window=self.context_window or 0,
            max_output_tokens=self.max_output_tokens or 0,
            pricing=pb.Pricing(input_per_mtok=self.input_per_mtok, output_per_mtok=self.output_per_mtok),
            created=self.created,
        )


# Limits: Llama API figures as published by Meta (128k context, 4028 output);
# Anthropic from the model pages (Sonnet 4.5: 64K output; Opus 4: 32K).
# Prices: USD per million tokens, provider list prices.
# Released: the public release day (Llama 4: 2025-04-05; Llama 3.3 70B: 2024-12-06; Llama 3.3 8B: first
# offered with the Llama API preview, 2025-04-29; Claude Opus 4: 2025-05-22; Claude Sonnet 4.5: 2025-09-29).
CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec("Llama-4-Maverick-17B-128E-Instruct-FP8", "meta_llama",
              "Llama-4-Maverick-17B-128E-Instruct-FP8", 128_000, 4028, 0.60, 1.80, released="2025-04-05"),
    ModelSpec("Llama-3.3-70B-Instruct", "meta_llama", "Llama-3.3-70B-Instruct", 128_000, 4028, 0.60, 1.80,
              released="2024-12-06"),
    ModelSpec("Llama-3.3-8B-Instruct", "meta_llama", "Llama-3.3-8B-Instruct", 128_000, 4028, 0.60, 1.80,
              released="2025-04-29"),
    ModelSpec("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929", 200_000, 64_000, 3.0, 15.0,
              released="2025-09-29"),
    ModelSpec("claude-opus-4", "anthropic", "claude-opus-4-20250514", 200_000, 32_000, 15.0, 75.0,
              released="2025-05-22"),
)

_BY_ID = {m.id: m for m in CATALOG}
_BY_ID_LOWER = {m.id.lower(): m for m in CATALOG}


def infer_provider(model: str) -> tuple[str, str]:
    """(provider, model id without any `provider/` prefix), or a 400 asking for `provider`."""
    prefix, sep, rest = model.partition("/")
    if sep and prefix in PROVIDERS and rest:
        return prefix, rest
    lower = model.lower()
    if lower.startswith("claude-"):
        return "anthropic", model
    if lower.startswith("llama-"):
        return "meta_llama", model
    raise invalid(
        f"Cannot infer the provider from model {model!r}: set \"provider\" to one of {', '.join(PROVIDERS)}",
        "provider",
    )


def resolve_model(provider: str, model: str) -> ModelSpec:
    """The catalog entry for `model`, or a pass-through spec for an id we do not know.

    `provider` may be empty (inferred from the id). A `provider/` prefix on the
    id is honoured and must agree with an explicit provider.
    """
    if provider and provider not in PROVIDERS:
        raise GatewayError("unsupported_provider", f"Unsupported provider: {provider}", param="provider")
    inferred: str | None = None
    bare = model
    prefix, sep, rest = model.partition("/")
    if sep and prefix in PROVIDERS and rest:
        inferred, bare = prefix, rest
    spec = _BY_ID.get(bare) or _BY_ID_LOWER.get(bare.lower())
    if spec is not None:
        inferred = inferred or spec.provider
    if not provider:
        provider = inferred or infer_provider(bare)[0]
    elif inferred and inferred != provider:
        raise invalid(f"Model {model!r} belongs to provider {inferred!r}, not {provider!r}", "model")
    if spec is not None and spec.provider == provider:
        return spec
    return ModelSpec(bare, provider, bare, None, None, provider_max_output=PROVIDER_MAX_OUTPUT.get(provider))


def list_models(provider: str = "") -> list[ModelSpec]:
    return [m for m in CATALOG if not provider or m.provider == provider]


def find_model(model: str) -> ModelSpec:
    """The catalog entry `model` names (case-insensitive, `provider/` prefix allowed), or a 404."""
    prefix, sep, rest = model.partition("/")
    owner = prefix if sep and prefix in PROVIDERS else None
    bare = rest if owner else model
    spec = _BY_ID.get(bare) or _BY_ID_LOWER.get(bare.lower())
    if spec is None or (owner is not None and spec.provider != owner):
        raise GatewayError(
            "model_not_found", f"The model {model!r} is not in the gateway's catalog (GET /v1/models lists it)",
            param="model")
    return spec
