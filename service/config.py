"""Every setting of the gateway, read from the environment in one place.

`Settings.from_env()` validates all values at start-up and raises `ConfigError`
with a message naming the variable, so a bad value stops the process before it
serves anything. An optional `.env` file in the working directory is read first;
real environment variables win over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def _parse_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    grpc_port: int = 50051
    http_port: int = 8080
    bind_host: str = "127.0.0.1"
    service_addr: str = "127.0.0.1:50051"
    # The providers' variables as set: every *_API_KEY and *_BASE_URL. Each provider's spec names its own
    # (service/providers/<name>/); the registry resolves and checks them (service.providers.configure).
    provider_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    upstream_timeout_s: float = 120.0
    upstream_max_retries: int = 2
    max_request_bytes: int = 10 * 1024 * 1024
    data_dir: str = "./data"
    database_url: str | None = field(default=None, repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key_file: str | None = None
    jwt_jwks_file: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    require_auth: bool = False
    log_format: str = "auto"  # JSON, or console output when stdout is a terminal
    log_level: str = "info"
    shutdown_grace_s: float = 30.0
    usage_flush_interval_s: float = 0.5
    ledger_buffer_records: int = 10_000  # usage records held in memory while the store is slow or down; then spooled
    # REST clients: how long a connection may stay silent (no complete request head, idle keep-alive, a
    # stalled request body) or a stream may go without the client accepting a byte, before it is closed
    client_timeout_s: float = 60.0
    # limits per caller (service/limits/): 0 = no limit; LIMITS_FILE sets them per caller over these
    rate_limit_rpm: int = 0
    rate_limit_tpm: int = 0
    budget_usd_per_day: float = 0.0
    max_concurrent: int = 0
    limits_file: str | None = None
    redis_url: str | None = field(default=None, repr=False)  # rate and concurrency counters shared by replicas
    # drop a parameter the provider cannot honour (named in x-dropped-params) instead of refusing the request
    drop_unsupported_params: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Build settings from `environ` (default: os.environ, over `.env`)."""
        if environ is None:
            env: dict[str, str] = _parse_dotenv(dotenv or Path(".env"))
            env.update(os.environ)
        else:
            env = dict(environ)
        grpc_port = _int(env, "GRPC_PORT", 50051, 0, 65535)
        bind_host = env.get("BIND_HOST", "").strip() or "127.0.0.1"
        service_addr = env.get("SERVICE_ADDR", "").strip() or f"127.0.0.1:{grpc_port}"
        if ":" not in service_addr:
            raise ConfigError(f"SERVICE_ADDR must be host:port, got {service_addr!r}")
        jwt_secret = env.get("JWT_SECRET", "") or None
        key_settings = [n for n in ("JWT_SECRET", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_FILE") if env.get(n, "").strip()]
        if len(key_settings) > 1:
            raise ConfigError(
                f"set only one of JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE (got {', '.join(key_settings)})"
            )
        if jwt_secret is not None and len(jwt_secret.encode()) < 32:
            raise ConfigError("JWT_SECRET must be at least 32 bytes (HS256 needs a key as long as its hash)")
        for name in ("JWT_PUBLIC_KEY_FILE", "JWT_JWKS_FILE"):
            path = env.get(name, "").strip()
            if path and not Path(path).is_file():
                raise ConfigError(f"{name} must name a readable file, got {path!r}")
        database_url = env.get("DATABASE_URL", "").strip() or None
        if database_url and not database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL must be a postgresql:// URL")
        redis_url = env.get("REDIS_URL", "").strip() or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        limits_file = env.get("LIMITS_FILE", "").strip() or None
        if limits_file:
            from service.limits.policy import read_limits_file

            read_limits_file(limits_file)  # a bad file stops start-up here, naming LIMITS_FILE and the reason
        return cls(
            database_url=database_url,
            jwt_secret=jwt_secret,
            jwt_public_key_file=env.get("JWT_PUBLIC_KEY_FILE", "").strip() or None,
            jwt_jwks_file=env.get("JWT_JWKS_FILE", "").strip() or None,
            jwt_issuer=env.get("JWT_ISSUER", "").strip() or None,
            jwt_audience=env.get("JWT_AUDIENCE", "").strip() or None,
            require_auth=_bool(env, "REQUIRE_AUTH", False),
            usage_flush_interval_s=_float(env, "USAGE_FLUSH_INTERVAL_S", 0.5, 0.01, 5.0),
            ledger_buffer_records=_int(env, "LEDGER_BUFFER_RECORDS", 10_000, 1, 10_000_000),
            grpc_port=grpc_port,
            http_port=_int(env, "HTTP_PORT", 8080, 0, 65535),
            bind_host=bind_host,
            service_addr=service_addr,
            provider_env={k: v for k, v in env.items() if k.endswith(PROVIDER_VARIABLE_SUFFIXES)},
            upstream_timeout_s=_float(env, "UPSTREAM_TIMEOUT_S", 120.0, 0.001, 3600.0),
            upstream_max_retries=_int(env, "UPSTREAM_MAX_RETRIES", 2, 0, 10),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 10 * 1024 * 1024, 1024, 1 << 30),
            data_dir=env.get("DATA_DIR", "").strip() or "./data",
            log_format=_choice(env, "LOG_FORMAT", "auto", ("json", "console", "auto")),
            log_level=_choice(env, "LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
            shutdown_grace_s=_float(env, "SHUTDOWN_GRACE_S", 30.0, 0.0, 3600.0),
            client_timeout_s=_float(env, "CLIENT_TIMEOUT_S", 60.0, 0.001, 3600.0),
            rate_limit_rpm=_int(env, "RATE_LIMIT_RPM", 0, 0, 1_000_000_000_000),
            rate_limit_tpm=_int(env, "RATE_LIMIT_TPM", 0, 0, 1_000_000_000_000),
            budget_usd_per_day=_float(env, "BUDGET_USD_PER_DAY", 0.0, 0.0, 1_000_000_000.0),
            max_concurrent=_int(env, "MAX_CONCURRENT", 0, 0, 1_000_000_000_000),
            limits_file=limits_file,
            redis_url=redis_url,
            drop_unsupported_params=_bool(env, "DROP_UNSUPPORTED_PARAMS", False),
        )


# The names every provider's variables end with (its key, its base URL): Settings keeps those it is given.
PROVIDER_VARIABLE_SUFFIXES = ("_API_KEY", "_BASE_URL")
