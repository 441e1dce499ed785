"""Who gets which limits: the variables, and LIMITS_FILE over them.

LIMITS_FILE is JSON:

    {"default":   {"rpm": 60, "tpm": 100000, "budget_usd_per_day": 5.0, "max_concurrent": 4},
     "anonymous": {"rpm": 10},
     "callers":   {"alice": {"rpm": 600, "budget_usd_per_day": 0}}}

Every part is optional. A key missing from an entry falls back to `default`, then to the variable
(RATE_LIMIT_RPM, RATE_LIMIT_TPM, BUDGET_USD_PER_DAY, MAX_CONCURRENT); 0 means no limit, so a caller
entry can lift a default. `anonymous` applies to every caller without a verified JWT, `callers` are
keyed by the JWT's `sub`, and a `sub` with no entry gets `default`.

The file is checked whole before it is used: an unknown key, a value of the wrong type, a negative or
non-finite number, an unreadable or malformed file raise `ConfigError` naming LIMITS_FILE, the path and
the JSON path of the bad value. At start-up that stops the process (exit 2); on `reload()` the policy in
force stays.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from service.config import ConfigError

if TYPE_CHECKING:
    from service.config import Settings

log = structlog.get_logger("limits")

# Largest value a count or rate may take: far past any real limit, and exact in a Lua number (a double).
MAX_COUNT = 1_000_000_000_000
MAX_USD = 1_000_000_000.0

_INT_KEYS = ("rpm", "tpm", "max_concurrent")
_ENTRY_KEYS = ("rpm", "tpm", "budget_usd_per_day", "max_concurrent")
_TOP_KEYS = ("default", "anonymous", "callers")


@dataclass(frozen=True, slots=True)
class Limits:
    """One caller's limits; None = no limit of that kind."""

    rpm: int | None = None
    tpm: int | None = None
    budget_usd_per_day: float | None = None
    max_concurrent: int | None = None


NO_LIMITS = Limits()


def caller_key(user: str | None) -> str:
    """The counter key of a caller: "anon" for every anonymous caller together, "user:<sub>" for a JWT's
    subject (so a token whose sub is literally "anonymous" or "anon" never shares the anonymous bucket)."""
    return "anon" if user is None else "user:" + user


def _where(path: tuple[str, ...]) -> str:
    out = "$"
    for part in path:
        out += f".{part}" if part.isidentifier() else f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class _Bad(Exception):
    pass


def _entry(raw: Any, path: tuple[str, ...]) -> dict[str, int | float]:
    if not isinstance(raw, dict):
        raise _Bad(f"{_where(path)} must be an object, got {_kind(raw)}")
    out: dict[str, int | float] = {}
    for key, value in raw.items():
        where = _where((*path, key))
        if key not in _ENTRY_KEYS:
            raise _Bad(f"{where} is not a known key (expected one of {', '.join(_ENTRY_KEYS)})")
        if key in _INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
                raise _Bad(f"{where} must be an integer from 0 to {MAX_COUNT}, got {_shown(value)}")
        elif (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
              or not 0 <= value <= MAX_USD):
            raise _Bad(f"{where} must be a number from 0 to {MAX_USD:.0f}, got {_shown(value)}")
        out[key] = value
    return out


def _parse(doc: Any) -> tuple[dict, dict, dict[str, dict]]:
    if not isinstance(doc, dict):
        raise _Bad(f"$ must be an object, got {_kind(doc)}")
    for key in doc:
        if key not in _TOP_KEYS:
            raise _Bad(f"{_where((key,))} is not a known key (expected one of {', '.join(_TOP_KEYS)})")
    default = _entry(doc.get("default", {}), ("default",))
    anonymous = _entry(doc.get("anonymous", {}), ("anonymous",))
    raw_callers = doc.get("callers", {})
    if not isinstance(raw_callers, dict):
        raise _Bad(f"$.callers must be an object, got {_kind(raw_callers)}")
    callers = {sub: _entry(entry, ("callers", sub)) for sub, entry in raw_callers.items()}
    return default, anonymous, callers


def read_limits_file(path: str) -> tuple[dict, dict, dict[str, dict]]:
    """The checked entries of a LIMITS_FILE: (default, anonymous, callers), each as given (no fallback yet)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"LIMITS_FILE {path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(data)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"LIMITS_FILE {path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"LIMITS_FILE {path}: not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from None
    try:
        return _parse(doc)
    except _Bad as exc:
        raise ConfigError(f"LIMITS_FILE {path}: {exc}") from None


def _limits(entry: dict, default: dict, variables: dict) -> Limits:
    def pick(key: str) -> Any:
        value = entry.get(key, default.get(key, variables[key]))
        return value or None  # 0 = no limit

    budget = pick("budget_usd_per_day")
    return Limits(rpm=pick("rpm"), tpm=pick("tpm"), budget_usd_per_day=None if budget is None else float(budget),
                  max_concurrent=pick("max_concurrent"))


class LimitsPolicy:
    """The limits of every caller, resolved once per (re)load so `for_caller` is two dict look-ups at most."""

    __slots__ = ("_variables", "_path", "_table")

    def __init__(self, variables: Limits = NO_LIMITS, path: str | None = None):
        self._variables = {"rpm": variables.rpm or 0, "tpm": variables.tpm or 0,
                           "budget_usd_per_day": variables.budget_usd_per_day or 0,
                           "max_concurrent": variables.max_concurrent or 0}
        self._path = path
        self._table = self._build()

    @classmethod
    def from_settings(cls, settings: Settings) -> LimitsPolicy:
        """The policy of the settings' variables and LIMITS_FILE (raises ConfigError on a bad file)."""
        return cls(Limits(rpm=settings.rate_limit_rpm or None, tpm=settings.rate_limit_tpm or None,
                          budget_usd_per_day=settings.budget_usd_per_day or None,
                          max_concurrent=settings.max_concurrent or None), settings.limits_file)

    def _build(self) -> tuple[Limits, Limits, dict[str, Limits], bool]:
        default, anonymous, callers = read_limits_file(self._path) if self._path else ({}, {}, {})
        base = _limits(default, {}, self._variables)
        anon = _limits(anonymous, default, self._variables)
        by_sub = {sub: _limits(entry, default, self._variables) for sub, entry in callers.items()}
        enabled = any(lim != NO_LIMITS for lim in (base, anon, *by_sub.values()))
        return base, anon, by_sub, enabled

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def enabled(self) -> bool:
        """False when no caller has any limit: nothing to enforce."""
        return self._table[3]

    def for_caller(self, user: str | None) -> Limits:
        """The limits of a verified JWT subject, or of the anonymous callers (None)."""
        table = self._table
        if user is None:
            return table[1]
        return table[2].get(user, table[0])

    def reload(self) -> None:
        """Read LIMITS_FILE again. A bad file raises ConfigError (and is logged); the policy in force stays."""
        if not self._path:
            return
        try:
            table = self._build()
        except ConfigError as exc:
            log.error("limits_reload_failed", error=str(exc))
            raise
        self._table = table
        log.info("limits_reloaded", path=self._path, callers=len(table[2]), enabled=table[3])
