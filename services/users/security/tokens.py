"""ES256 access tokens, their JWKS, and opaque refresh tokens.

Access tokens follow the cross-service contract (services.common.names TOKEN_*): header
`kid` and `typ: at+jwt`; claims iss, aud, sub, role, email, iat, exp, jti. Refresh tokens
are random opaque strings (never JWTs, so one can never pass as an access token); only
their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.common.contracts.internal import Jwk, JwkSet
from services.common.names import TOKEN_ALGORITHM, TOKEN_AUDIENCE, TOKEN_ISSUER
from services.common.settings import ConfigError

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT type, not a secret)
REFRESH_PREFIX = "rt_"


class TokenIssuer:
    """Signs access tokens with the private key from the secret store."""

    def __init__(self, private_key_pem: str, key_id: str, ttl_seconds: int) -> None:
        try:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError("jwt-private-key is not a PEM private key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ConfigError("jwt-private-key must be an EC P-256 key (ES256)")
        if not key_id:
            raise ConfigError("jwt-key-id is empty")
        self._key = key
        self.key_id = key_id
        self.ttl_seconds = ttl_seconds
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.jwks = JwkSet(keys=[Jwk(kty=public["kty"], crv=public["crv"], x=public["x"],
                                     y=public["y"], kid=key_id, alg=TOKEN_ALGORITHM)])

    def issue(self, user_id: uuid.UUID, role: str, email: str,
              sid: uuid.UUID | None = None, email_verified: bool | None = None) -> str:
        """`sid` names the session (the refresh-token family) so that logout can revoke
        the session's access tokens at the gateway (services.common.revocation)."""
        now = int(time.time())
        claims = {"iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "sub": str(user_id), "role": role,
                  "email": email, "iat": now, "exp": now + self.ttl_seconds,
                  "jti": uuid.uuid4().hex}
        if sid is not None:
            claims["sid"] = str(sid)
        if email_verified is not None:
            claims["email_verified"] = email_verified
        return jwt.encode(claims, self._key, algorithm=TOKEN_ALGORITHM,
                          headers={"kid": self.key_id, "typ": ACCESS_TOKEN_TYPE})


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the digest that is stored in its place."""
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    return token, refresh_digest(token)


def refresh_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
