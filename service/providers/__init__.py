"""The provider registry: every provider the gateway can call, as a `ProviderSpec` (service/providers/spec.py).

The built-in providers (one folder each, exporting `SPEC`) are loaded on first use, so importing a light
module that reads the registry (the model catalog) does not load any adapter. `register()` adds another
provider at run time (the test suite registers an OpenAI-compatible one); `configure()` resolves a spec's
settings from the configuration, refusing a bad base URL with the variable's name.
"""

from __future__ import annotations

import importlib

from service.config import ConfigError, Settings
from service.providers.spec import ProviderSettings, ProviderSpec

BUILTIN = ("service.providers.meta_llama", "service.providers.anthropic")

_specs: dict[str, ProviderSpec] = {}
_loaded = False


def _load() -> dict[str, ProviderSpec]:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            spec = importlib.import_module(module).SPEC
            _specs.setdefault(spec.name, spec)
    return _specs


def register(spec: ProviderSpec) -> None:
    """Add (or replace) a provider."""
    _load()[spec.name] = spec


def unregister(name: str) -> None:
    _load().pop(name, None)


def get(name: str) -> ProviderSpec | None:
    return _load().get(name)


def specs() -> tuple[ProviderSpec, ...]:
    return tuple(_load().values())


def names() -> tuple[str, ...]:
    return tuple(_load())


def label(name: str) -> str:
    spec = _load().get(name)
    return spec.label if spec is not None else name


def owner_of(model: str) -> ProviderSpec | None:
    """The provider whose model prefixes match `model`, if any."""
    for spec in _load().values():
        if spec.owns(model):
            return spec
    return None


def configure(spec: ProviderSpec, settings: Settings) -> ProviderSettings:
    """The spec's settings: its key (the first of its key variables that is set) and base URL (its variable,
    else the default; ConfigError naming the variable when it is not an http(s) URL)."""
    url = settings.provider_env.get(spec.base_url_variable, "").strip() or spec.default_base_url
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{spec.base_url_variable} must be an http(s) URL, got {url!r}")
    return ProviderSettings(url.rstrip("/"), _key(spec, settings), settings.upstream_timeout_s,
                            settings.upstream_max_retries)


def key_for(name: str, settings: Settings) -> str | None:
    """The server-side key configured for provider `name`, if any."""
    spec = get(name)
    return None if spec is None else _key(spec, settings)


def _key(spec: ProviderSpec, settings: Settings) -> str | None:
    env = settings.provider_env
    return next((v.strip() for var in spec.key_variables if (v := env.get(var, "")).strip()), None)
