"""The model catalog: the guide's models, their provider ids, limits and prices.

Ids the catalog does not know pass through to the provider unchanged, with the
provider inferred from the id; limits are then the provider's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from ainative.chat.v1 import chat_pb2 as pb

from service.errors import GatewayError, invalid

PROVIDERS = ("meta_llama", "anthropic")

# Without a client value, max_tokens is min(DEFAULT_MAX_TOKENS, model max output).
DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    provider: str
    provider_model_id: str
    context_window: int | None
    max_output_tokens: int | None
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    @property
    def default_max_tokens(self) -> int:
        if self.max_output_tokens is None:
            return DEFAULT_MAX_TOKENS
        return min(DEFAULT_MAX_TOKENS, self.max_output_tokens)

    def to_proto(self) -> pb.Model:
        return pb.Model(
            id=self.id,
            provider=self.provider,
            provider_model_id=self.provider_model_id,
            context_window=self.context_window or 0,
            max_output_tokens=self.max_output_tokens or 0,
            pricing=pb.Pricing(input_per_mtok=self.input_per_mtok, output_per_mtok=self.output_per_mtok),
        )


# Limits: Llama API figures as published by Meta (128k context, 4028 output);
# Anthropic from the model pages (Sonnet 4.5: 64K output; Opus 4: 32K).
# Prices: USD per million tokens, provider list prices.
CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec("Llama-4-Maverick-17B-128E-Instruct-FP8", "meta_llama",
              "Llama-4-Maverick-17B-128E-Instruct-FP8", 128_000, 4028, 0.60, 1.80),
    ModelSpec("Llama-3.3-70B-Instruct", "meta_llama", "Llama-3.3-70B-Instruct", 128_000, 4028, 0.60, 1.80),
    ModelSpec("Llama-3.3-8B-Instruct", "meta_llama", "Llama-3.3-8B-Instruct", 128_000, 4028, 0.60, 1.80),
    ModelSpec("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929", 200_000, 64_000, 3.0, 15.0),
    ModelSpec("claude-opus-4", "anthropic", "claude-opus-4-20250514", 200_000, 32_000, 15.0, 75.0),
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
    return ModelSpec(bare, provider, bare, None, None)


def list_models(provider: str = "") -> list[ModelSpec]:
    return [m for m in CATALOG if not provider or m.provider == provider]
