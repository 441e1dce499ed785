"""The model catalog: the models we serve by name, their provider ids, limits, prices and release dates.

Ids the catalog does not know pass through to the provider unchanged, with the
provider inferred from the id; their output limit is then the provider's own
ceiling where it publishes one (its spec's max_output_tokens), else the provider's business.
They are priced by family (PRICE_FAMILIES); an id of no known family has no price
(cost None: recorded as NULL and counted as unpriced, never as a free request).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from ainative.chat.v1 import chat_pb2 as pb

from service import providers as registry
from service.errors import GatewayError, invalid

# Without a client value, max_tokens is min(DEFAULT_MAX_TOKENS, model max output).
DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    provider: str
    provider_model_id: str
    context_window: int | None
    max_output_tokens: int | None
    # USD per million tokens; None: no known price (a pass-through id of no known family)
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
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

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The request's cost in USD at list prices, or None when the model has no known price (a request
        that used no tokens, such as one the provider refused, costs 0 whatever the model)."""
        if not prompt_tokens and not completion_tokens:
            return 0.0
        if self.input_per_mtok is None or self.output_per_mtok is None:
            return None
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6

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
            pricing=pb.Pricing(input_per_mtok=self.input_per_mtok or 0.0, output_per_mtok=self.output_per_mtok or 0.0),
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
# a catalog entry's provider id (claude-sonnet-4-5-20250929) is priced as the entry
_BY_PROVIDER_ID_LOWER = {m.provider_model_id.lower(): m for m in CATALOG}


@dataclass(frozen=True, slots=True)
class PriceFamily:
    """List prices (USD per million tokens) shared by every id of one model family of one provider."""

    provider: str
    pattern: str  # a regular expression the whole family key (family_key) must match
    input_per_mtok: float
    output_per_mtok: float

    def matches(self, provider: str, model: str) -> bool:
        return provider == self.provider and re.fullmatch(self.pattern, family_key(model)) is not None


# Pass-through ids are priced by the first family whose pattern matches the id's family key. Families are
# versioned where a provider has priced versions of one tier differently (Opus 4.5 costs a third of Opus 4.1);
# a version listed nowhere here is unpriced rather than guessed.
PRICE_FAMILIES: tuple[PriceFamily, ...] = (
    # Anthropic list prices, base input / output, from the Claude API pricing page
    # (docs.anthropic.com/en/docs/about-claude/pricing) and each model's overview page.
    PriceFamily("anthropic", r"claude-opus-4-5", 5.0, 25.0),  # Opus 4.5
    PriceFamily("anthropic", r"claude-opus-4(-0|-1)?", 15.0, 75.0),  # Opus 4, Opus 4.1
    PriceFamily("anthropic", r"claude-opus-3", 15.0, 75.0),  # Opus 3 (deprecated)
    PriceFamily("anthropic", r"claude-sonnet-4(-\d+)?", 3.0, 15.0),  # Sonnet 4.x: 4, 4.5, 4.6
    PriceFamily("anthropic", r"claude-sonnet-3-[57]", 3.0, 15.0),  # Sonnet 3.7, Sonnet 3.5 (deprecated)
    PriceFamily("anthropic", r"claude-haiku-4-5", 1.0, 5.0),  # Haiku 4.5
    PriceFamily("anthropic", r"claude-haiku-3-5", 0.80, 4.0),  # Haiku 3.5
    PriceFamily("anthropic", r"claude-haiku-3", 0.25, 1.25),  # Haiku 3
    # Meta Llama API: the prices this catalog has always listed for its Llama entries (one rate for every
    # Llama 4 and Llama 3.3 model), applied to the rest of each family.
    PriceFamily("meta_llama", r"llama-4-.+", 0.60, 1.80),  # Llama 4 Maverick, Scout
    PriceFamily("meta_llama", r"llama-3\.3-.+", 0.60, 1.80),  # Llama 3.3 70B, 8B
)

_DATED = re.compile(r"-(\d{8}|latest)$")  # a snapshot date (claude-sonnet-4-5-20250929) or the -latest alias
# Anthropic's older naming puts the version before the tier: claude-3-5-haiku, claude-4-opus
_VERSION_FIRST = re.compile(r"claude-(\d+(?:-\d+)?)-(opus|sonnet|haiku)")


def family_key(model: str) -> str:
    """The id a family pattern is matched against: lower case, without any `owner/` prefix or snapshot suffix,
    Anthropic's version-first ids turned tier-first (claude-3-5-haiku-20241022 -> claude-haiku-3-5)."""
    key = _DATED.sub("", model.rpartition("/")[2].lower())
    if m := _VERSION_FIRST.fullmatch(key):
        key = f"claude-{m[2]}-{m[1]}"
    return key


def price_of(provider: str, model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for `model` at `provider`, or None when no price is known.

    A catalog id or a catalog entry's provider id (either case, `provider/` prefix allowed) has the entry's
    prices; any other id those of its family (PRICE_FAMILIES).
    """
    bare = model.rpartition("/")[2].lower()
    spec = _BY_ID_LOWER.get(bare) or _BY_PROVIDER_ID_LOWER.get(bare)
    if spec is not None and spec.provider == provider:
        if spec.input_per_mtok is not None and spec.output_per_mtok is not None:
            return spec.input_per_mtok, spec.output_per_mtok
    for family in PRICE_FAMILIES:
        if family.matches(provider, model):
            return family.input_per_mtok, family.output_per_mtok
    return None


def infer_provider(model: str) -> tuple[str, str]:
    """(provider, model id without any `provider/` prefix), or a 400 asking for `provider`."""
    prefix, sep, rest = model.partition("/")
    if sep and registry.get(prefix) is not None and rest:
        return prefix, rest
    owner = registry.owner_of(model)
    if owner is not None:
        return owner.name, model
    raise invalid(
        f"Cannot infer the provider from model {model!r}: set \"provider\" to one of "
        f"{', '.join(registry.names())}",
        "provider",
    )


def resolve_model(provider: str, model: str) -> ModelSpec:
    """The catalog entry for `model`, or a pass-through spec for an id we do not know.

    `provider` may be empty (inferred from the id). A `provider/` prefix on the
    id is honoured and must agree with an explicit provider.
    """
    if provider and registry.get(provider) is None:
        raise GatewayError("unsupported_provider", f"Unsupported provider: {provider}", param="provider")
    inferred: str | None = None
    bare = model
    prefix, sep, rest = model.partition("/")
    if sep and registry.get(prefix) is not None and rest:
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
    price = price_of(provider, bare)
    owner = registry.get(provider)
    return ModelSpec(bare, provider, bare, None, None, price[0] if price else None, price[1] if price else None,
                     provider_max_output=owner.max_output_tokens if owner is not None else None)


def list_models(provider: str = "") -> list[ModelSpec]:
    return [m for m in CATALOG if not provider or m.provider == provider]


def find_model(model: str) -> ModelSpec:
    """The catalog entry `model` names (case-insensitive, `provider/` prefix allowed), or a 404."""
    prefix, sep, rest = model.partition("/")
    owner = prefix if sep and registry.get(prefix) is not None else None
    bare = rest if owner else model
    spec = _BY_ID.get(bare) or _BY_ID_LOWER.get(bare.lower())
    if spec is None or (owner is not None and spec.provider != owner):
        raise GatewayError(
            "model_not_found", f"The model {model!r} is not in the gateway's catalog (GET /v1/models lists it)",
            param="model")
    return spec
