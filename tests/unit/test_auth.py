"""Bearer JWT verification: what verifies, what is anonymous, what is refused."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from service.auth import Authenticator
from service.config import ConfigError, Settings
from service.errors import GatewayError

SECRET = "s" * 64  # long enough for HS512 too


def hs(claims: dict, secret: str = SECRET, alg: str = "HS256", headers: dict | None = None) -> str:
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def auth(**kw: object) -> Authenticator:
    return Authenticator(dataclasses.replace(Settings(), **kw))  # type: ignore[arg-type]


def refused(a: Authenticator, token: str, code: str = "invalid_token") -> str:
    with pytest.raises(GatewayError) as info:
        a.identify(f"Bearer {token}")
    assert info.value.code == code
    return info.value.message


def test_hs256_family_and_anonymous_values() -> None:
    a = auth(jwt_secret=SECRET)
    now = int(time.time())
    for alg in ("HS256", "HS384", "HS512"):
        assert a.identify("Bearer " + hs({"sub": "alice", "exp": now + 60}, alg=alg)) == "alice"
    assert a.identify("bearer " + hs({"sub": "bob"})) == "bob"  # exp is optional
    for anonymous in (None, "", "Bearer sk-placeholder", "Bearer unused", "Basic dXNlcjpwYXNz", "Bearer a.b"):
        assert a.identify(anonymous) is None


def test_refusals() -> None:
    a = auth(jwt_secret=SECRET)
    now = int(time.time())
    assert "expired" in refused(a, hs({"sub": "alice", "exp": now - 31}))
    assert a.identify("Bearer " + hs({"sub": "alice", "exp": now - 10})) == "alice"  # within the 30 s leeway
    assert "nbf" in refused(a, hs({"sub": "alice", "nbf": now + 120}))
    assert a.identify("Bearer " + hs({"sub": "alice", "nbf": now + 20})) == "alice"  # leeway
    refused(a, hs({"sub": "alice"}, secret="t" * 64))  # forged: wrong key
    refused(a, hs({"name": "no subject"}))
    refused(a, hs({"sub": 42}))
    unsigned = jwt.encode({"sub": "alice"}, None, algorithm="none")
    refused(a, unsigned)
    token = hs({"sub": "alice"})
    head, body, sig = token.split(".")
    refused(a, f"{head}.{body}.{sig[:-4]}AAAA")  # tampered signature


def test_issuer_and_audience_only_when_configured() -> None:
    a = auth(jwt_secret=SECRET, jwt_issuer="https://issuer.test", jwt_audience="gateway")
    good = hs({"sub": "alice", "iss": "https://issuer.test", "aud": "gateway"})
    assert a.identify(f"Bearer {good}") == "alice"
    refused(a, hs({"sub": "alice", "iss": "https://evil.test", "aud": "gateway"}))
    refused(a, hs({"sub": "alice", "iss": "https://issuer.test", "aud": "other"}))
    refused(a, hs({"sub": "alice"}))
    assert auth(jwt_secret=SECRET).identify("Bearer " + hs({"sub": "a", "aud": "anything"})) == "a"


def test_no_key_configured_refuses_jwts_but_not_anonymous_calls() -> None:
    a = auth()
    assert "no verification key" in refused(a, hs({"sub": "alice"}))
    assert a.identify("Bearer sk-placeholder") is None


def test_require_auth() -> None:
    a = auth(jwt_secret=SECRET, require_auth=True)
    for value in (None, "Bearer sk-placeholder"):
        with pytest.raises(GatewayError) as info:
            a.identify(value)
        assert info.value.code == "missing_token"
    assert a.identify("Bearer " + hs({"sub": "alice"})) == "alice"


def test_rs256_public_key_file_and_algorithm_confusion(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(pem)
    a = auth(jwt_public_key_file=str(tmp_path / "pub.pem"))
    assert a.identify("Bearer " + jwt.encode({"sub": "carol"}, key, algorithm="RS256")) == "carol"
    # an HS256 token "signed" with the public key must not verify (key confusion)
    confused = jwt.api_jws.PyJWS()
    confused._algorithms["HS256"].prepare_key = lambda k: k  # type: ignore[method-assign]
    token = confused.encode(json.dumps({"sub": "mallory"}).encode(), pem, algorithm="HS256")
    refused(a, token)


def test_es256_jwks_file_by_kid(tmp_path: Path) -> None:
    keys = {kid: ec.generate_private_key(ec.SECP256R1()) for kid in ("k1", "k2")}
    jwks = {"keys": [{**json.loads(ECAlgorithm.to_jwk(k.public_key())), "kid": kid} for kid, k in keys.items()]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    a = auth(jwt_jwks_file=str(tmp_path / "jwks.json"))
    for kid, key in keys.items():
        token = jwt.encode({"sub": f"user-{kid}"}, key, algorithm="ES256", headers={"kid": kid})
        assert a.identify(f"Bearer {token}") == f"user-{kid}"
    wrong = jwt.encode({"sub": "x"}, keys["k1"], algorithm="ES256", headers={"kid": "k2"})
    refused(a, wrong)
    refused(a, jwt.encode({"sub": "x"}, keys["k1"], algorithm="ES256", headers={"kid": "k9"}))


@pytest.mark.parametrize(("env", "message"), [
    ({"JWT_SECRET": "short"}, "at least 32 bytes"),
    ({"JWT_SECRET": SECRET, "JWT_JWKS_FILE": "/etc/hostname"}, "only one of"),
    ({"JWT_PUBLIC_KEY_FILE": "/nonexistent.pem"}, "readable file"),
    ({"REQUIRE_AUTH": "maybe"}, "REQUIRE_AUTH"),
    ({"DATABASE_URL": "mysql://x"}, "postgresql://"),
])
def test_configuration_rules(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
