"""Bearer JWT verification: identity comes only from a verified token's `sub`.

A bearer value shaped like a JWT (three base64url parts) must verify, or the
call is refused with `invalid_token`; any other bearer value (such as the
placeholder key an OpenAI SDK must send) is anonymous. Algorithms are
allow-listed by the configured key, so `alg: none` and algorithm confusion
(an HS256 token signed with a public key) never verify. A `sub` holding a NUL
character or a lone UTF-16 surrogate (PyJWT accepts both) is refused too: it
could be neither stored in the usage ledger nor written to a log line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from service.config import Settings
from service.errors import GatewayError
from service.validate import text_problem

LEEWAY_S = 30
JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]*=*$")
HMAC_ALGS = ["HS256", "HS384", "HS512"]
RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
EC_ALGS = ["ES256", "ES384", "ES512"]


def bearer_value(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _algorithms_for(key: Any) -> list[str]:
    name = type(key).__name__
    return RSA_ALGS if "RSA" in name else EC_ALGS


class Authenticator:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._key: Any = None
        self._algorithms: list[str] = []
        self._jwks: dict[str, tuple[Any, list[str]]] = {}
        if settings.jwt_secret:
            self._key, self._algorithms = settings.jwt_secret, HMAC_ALGS
        elif settings.jwt_public_key_file:
            pem = Path(settings.jwt_public_key_file).read_bytes()
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            self._key = load_pem_public_key(pem)
            self._algorithms = _algorithms_for(self._key)
        elif settings.jwt_jwks_file:
            for raw in json.loads(Path(settings.jwt_jwks_file).read_text())["keys"]:
                algo = RSAAlgorithm if raw.get("kty") == "RSA" else ECAlgorithm
                key = algo.from_jwk(raw)
                self._jwks[raw.get("kid", "")] = (key, RSA_ALGS if raw.get("kty") == "RSA" else EC_ALGS)

    @property
    def configured(self) -> bool:
        return bool(self._algorithms or self._jwks)

    def _verification_key(self, token: str) -> tuple[Any, list[str]]:
        if not self._jwks:
            return self._key, self._algorithms
        kid = jwt.get_unverified_header(token).get("kid", "")
        if kid not in self._jwks:
            if len(self._jwks) == 1 and not kid:
                return next(iter(self._jwks.values()))
            raise jwt.InvalidTokenError(f"unknown key id {kid!r}")
        return self._jwks[kid]

    def identify(self, authorization: str | None) -> str | None:
        """The verified `sub`, None for an anonymous call, or GatewayError("invalid_token")."""
        token = bearer_value(authorization)
        if token is None or not JWT_SHAPE.match(token):
            user = None
        else:
            user = self._verify(token)
        if user is None and self._settings.require_auth:
            raise GatewayError("missing_token", "A valid bearer JWT is required (Authorization: Bearer <token>)")
        return user

    def _verify(self, token: str) -> str:
        if not self.configured:
            raise GatewayError("invalid_token", "Bearer JWTs cannot be verified: no verification key is configured")
        s = self._settings
        try:
            key, algorithms = self._verification_key(token)
            claims = jwt.decode(
                token, key, algorithms=algorithms, leeway=LEEWAY_S,
                issuer=s.jwt_issuer, audience=s.jwt_audience,
                options={"require": ["sub"], "verify_aud": s.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise GatewayError("invalid_token", "The bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise GatewayError("invalid_token", "The bearer token is not valid yet (nbf)") from None
        except jwt.InvalidTokenError as exc:
            raise GatewayError("invalid_token", f"The bearer token is invalid: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise GatewayError("invalid_token", "The bearer token has no subject (sub)")
        problem = text_problem(sub)  # PyJWT accepts these; no store or log line can hold them
        if problem:
            raise GatewayError("invalid_token", f"The bearer token's subject (sub) contains {problem}")
        return sub
