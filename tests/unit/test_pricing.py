"""Pricing: catalog ids, their provider ids and pass-through ids priced by family; an unknown family is unpriced."""

from __future__ import annotations

import pytest

from service.models import CATALOG, PRICE_FAMILIES, price_of, resolve_model

SONNET, OPUS_4, OPUS_4_5, HAIKU_4_5, HAIKU_3_5, HAIKU_3 = (
    (3.0, 15.0), (15.0, 75.0), (5.0, 25.0), (1.0, 5.0), (0.8, 4.0), (0.25, 1.25))
LLAMA = (0.6, 1.8)


@pytest.mark.parametrize(("provider", "model", "price"), [
    # catalog ids and their provider ids
    ("anthropic", "claude-sonnet-4-5", SONNET),
    ("anthropic", "claude-sonnet-4-5-20250929", SONNET),
    ("anthropic", "claude-opus-4", OPUS_4),
    ("anthropic", "claude-opus-4-20250514", OPUS_4),
    ("meta_llama", "Llama-4-Maverick-17B-128E-Instruct-FP8", LLAMA),
    ("meta_llama", "Llama-3.3-70B-Instruct", LLAMA),
    ("meta_llama", "Llama-3.3-8B-Instruct", LLAMA),
    # pass-through ids: dated, aliased, prefixed, any case
    ("anthropic", "anthropic/claude-sonnet-4-5-20250929", SONNET),
    ("anthropic", "CLAUDE-SONNET-4-5-20250929", SONNET),
    ("anthropic", "claude-sonnet-4-0", SONNET),
    ("anthropic", "claude-sonnet-4-20250514", SONNET),
    ("anthropic", "claude-4-sonnet-20250514", SONNET),
    ("anthropic", "claude-sonnet-4-6", SONNET),
    ("anthropic", "claude-3-7-sonnet-latest", SONNET),
    ("anthropic", "claude-3-7-sonnet-20250219", SONNET),
    ("anthropic", "claude-3-5-sonnet-20241022", SONNET),
    ("anthropic", "claude-opus-4-0", OPUS_4),
    ("anthropic", "claude-4-opus-20250514", OPUS_4),
    ("anthropic", "claude-opus-4-1", OPUS_4),
    ("anthropic", "anthropic/claude-opus-4-1-20250805", OPUS_4),
    ("anthropic", "claude-3-opus-20240229", OPUS_4),
    ("anthropic", "claude-opus-4-5", OPUS_4_5),
    ("anthropic", "claude-opus-4-5-20251101", OPUS_4_5),
    ("anthropic", "claude-haiku-4-5", HAIKU_4_5),
    ("anthropic", "Claude-Haiku-4-5-20251001", HAIKU_4_5),
    ("anthropic", "claude-3-5-haiku-latest", HAIKU_3_5),
    ("anthropic", "claude-3-5-haiku-20241022", HAIKU_3_5),
    ("anthropic", "claude-3-haiku-20240307", HAIKU_3),
    ("meta_llama", "llama-4-scout-17b-16e-instruct-fp8", LLAMA),
    ("meta_llama", "Llama-4-Scout-17B-16E-Instruct-FP8", LLAMA),
    ("meta_llama", "meta_llama/Llama-4-Scout-17B-16E-Instruct-FP8", LLAMA),
    ("meta_llama", "LLAMA-3.3-70B-INSTRUCT-TURBO", LLAMA),
    # no known family, or a family of another provider
    ("anthropic", "claude-mystery-1", None),
    ("anthropic", "claude-opus-4-5-mystery", None),
    ("anthropic", "claude-haiku-2", None),
    ("anthropic", "claude-sonnet", None),
    ("anthropic", "claude-opus", None),
    ("meta_llama", "Mystery-7B", None),
    ("meta_llama", "Llama-2-70b-chat", None),
    ("meta_llama", "Llama-3.1-405B-Instruct", None),
    ("meta_llama", "claude-sonnet-4-5", None),
    ("anthropic", "Llama-4-Scout-17B-16E-Instruct-FP8", None),
])
def test_price_of(provider: str, model: str, price: tuple[float, float] | None) -> None:
    assert price_of(provider, model) == price


def test_every_catalog_entry_agrees_with_its_family() -> None:
    for m in CATALOG:
        assert price_of(m.provider, m.id) == price_of(m.provider, m.provider_model_id) == (
            m.input_per_mtok, m.output_per_mtok), m.id
        # the family table alone (as if the id were not in the catalog) prices it the same
        fam = [f for f in PRICE_FAMILIES if f.matches(m.provider, m.id)]
        assert fam and (fam[0].input_per_mtok, fam[0].output_per_mtok) == (m.input_per_mtok, m.output_per_mtok)


def test_resolved_specs_cost_requests_exactly() -> None:
    # a catalog entry's provider id resolves to a pass-through spec that is priced as its catalog entry
    spec = resolve_model("", "claude-sonnet-4-5-20250929")
    assert spec.cost(1000, 500) == (1000 * 3.0 + 500 * 15.0) / 1e6
    assert resolve_model("", "claude-sonnet-4-5").cost(1000, 500) == (1000 * 3.0 + 500 * 15.0) / 1e6
    assert resolve_model("anthropic", "claude-opus-4-5-20251101").cost(2000, 100) == (2000 * 5.0 + 100 * 25.0) / 1e6
    assert resolve_model("", "meta_llama/llama-4-scout-17b-16e-instruct-fp8").cost(300, 100) == (
        (300 * 0.6 + 100 * 1.8) / 1e6)
    assert resolve_model("", "Llama-3.3-70B-Instruct").cost(0, 0) == 0.0
    # no known family: no price at all, never 0
    assert resolve_model("", "claude-mystery-1").cost(1000, 500) is None
    assert resolve_model("meta_llama", "Mystery-7B").cost(10, 0) is None
    # a request that used no tokens (the provider refused it) costs nothing, priced or not
    assert resolve_model("", "claude-mystery-1").cost(0, 0) == 0.0


def test_pass_through_specs_keep_catalog_listing_unchanged() -> None:
    # pricing a pass-through id does not make it a catalog entry: limits and metric labels stay those of an
    # unknown id
    spec = resolve_model("", "claude-sonnet-4-5-20250929")
    assert (spec.id, spec.provider_model_id, spec.max_output_tokens) == (
        "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", None)
