"""Access and refresh tokens of the users service (no stack needed)."""

from __future__ import annotations

import uuid

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.common.settings import ConfigError
from services.users.security.tokens import TokenIssuer, new_refresh_token, refresh_digest


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_issued_token_verifies_with_the_published_jwks() -> None:
    issuer = TokenIssuer(_pem(ec.generate_private_key(ec.SECP256R1())), "k1", 900)
    user_id = uuid.uuid4()
    token = issuer.issue(user_id, "customer", "a@example.com")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": "k1", "typ": "at+jwt"}
    (jwk,) = msgspec.to_builtins(issuer.jwks)["keys"]
    assert "d" not in jwk and jwk["kid"] == "k1"
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"],
                        audience="ecommerce-api", issuer="ecommerce-users")
    assert claims["sub"] == str(user_id) and claims["role"] == "customer"
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]


@pytest.mark.parametrize("pem", [
    _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    _pem(ec.generate_private_key(ec.SECP384R1())),
    "not a pem",
])
def test_only_p256_keys_are_accepted(pem: str) -> None:
    with pytest.raises(ConfigError):
        TokenIssuer(pem, "k1", 900)


def test_refresh_tokens_are_opaque_and_stored_as_digests() -> None:
    token, digest = new_refresh_token()
    other, _ = new_refresh_token()
    assert token != other and "." not in token and len(token) > 40
    assert digest == refresh_digest(token) and len(digest) == 32
