"""Token attacks through the gateway: each one answers 401, while a token built the same
way with every claim right is accepted (so each rejection is for the reason under test)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Customer, is_problem

PROFILE = "/api/users/profile"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(customer: Customer, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "ecommerce-users", "aud": "ecommerce-api", "sub": customer.id,
              "role": "customer", "email": customer.email, "iat": now, "exp": now + 300,
              "jti": uuid.uuid4().hex}
    claims.update(over)
    return claims


def _sign(claims: dict[str, Any], key: Any, kid: str, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="ES256",
                      headers={"kid": kid, "typ": "at+jwt", **header})


@pytest.fixture(scope="module")
def signing_key(secrets: dict[str, str]) -> tuple[Any, str]:
    key = serialization.load_pem_private_key(secrets["jwt-private-key"].encode(), None)
    return key, secrets["jwt-key-id"]


async def _status(gateway: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await gateway.get(PROFILE, headers={"Authorization": f"Bearer {token}", **headers})


async def test_control_a_correct_token_signed_with_the_real_key_is_accepted(
        gateway: httpx.AsyncClient, customer: Customer, signing_key: tuple[Any, str]) -> None:
    r = await _status(gateway, _sign(_claims(customer), *signing_key))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == customer.id


async def test_no_token_and_garbage(gateway: httpx.AsyncClient) -> None:
    is_problem(await gateway.get(PROFILE), 401)
    for value in ("Bearer", "Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz",
                  "Bearer " + "A" * 5000):
        r = await gateway.get(PROFILE, headers={"Authorization": value})
        assert is_problem(r, 401), value
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_alg_none(gateway: httpx.AsyncClient, customer: Customer,
                        signing_key: tuple[Any, str]) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": signing_key[1]}
    token = (f"{_b64(json.dumps(header).encode())}."
             f"{_b64(json.dumps(_claims(customer, role='admin')).encode())}.")
    is_problem(await _status(gateway, token), 401)


async def test_hs256_signed_with_the_public_key(
        gateway: httpx.AsyncClient, customer: Customer, signing_key: tuple[Any, str]) -> None:
    jwks = (await gateway.get("/api/users/.well-known/jwks.json")).json()
    public_pem = signing_key[0].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (public_pem, json.dumps(jwks["keys"][0]).encode()):
        header = {"alg": "HS256", "typ": "at+jwt", "kid": signing_key[1]}
        signing_input = (f"{_b64(json.dumps(header).encode())}."
                         f"{_b64(json.dumps(_claims(customer, role='admin')).encode())}")
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        is_problem(await _status(gateway, f"{signing_input}.{_b64(signature)}"), 401)


async def test_tampered_payload_and_signature(gateway: httpx.AsyncClient,
                                              customer: Customer) -> None:
    header, payload, signature = customer.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    is_problem(await gateway.get("/api/users", headers={"Authorization": f"Bearer {forged}"}),
               401)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    is_problem(await _status(gateway, f"{header}.{payload}.{_b64(bytes(raw))}"), 401)
    # The untouched token still works: the rejections above are the tampering.
    assert (await _status(gateway, customer.token)).status_code == 200


@pytest.mark.parametrize("over", [
    {"exp": int(time.time()) - 120, "iat": int(time.time()) - 1000},
    {"iss": "someone-else"},
    {"aud": "another-api"},
    {"role": "superuser"},
    {"sub": "not-a-uuid"},
], ids=["expired", "wrong-issuer", "wrong-audience", "unknown-role", "bad-subject"])
async def test_bad_claims_signed_with_the_real_key(
        gateway: httpx.AsyncClient, customer: Customer, signing_key: tuple[Any, str],
        over: dict[str, Any]) -> None:
    is_problem(await _status(gateway, _sign(_claims(customer, **over), *signing_key)), 401)


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub", "jti"])
async def test_missing_claims(gateway: httpx.AsyncClient, customer: Customer,
                              signing_key: tuple[Any, str], missing: str) -> None:
    claims = _claims(customer)
    del claims[missing]
    is_problem(await _status(gateway, _sign(claims, *signing_key)), 401)


async def test_unknown_kid_and_foreign_key(gateway: httpx.AsyncClient, customer: Customer,
                                           signing_key: tuple[Any, str]) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    is_problem(await _status(gateway, _sign(_claims(customer), other, "attacker-kid")), 401)
    # The real kid, but signed by another key.
    is_problem(await _status(gateway, _sign(_claims(customer), other, signing_key[1])), 401)
    # Flooding unknown kids does not break verification of good tokens.
    for i in range(5):
        is_problem(await _status(gateway, _sign(_claims(customer), other, f"kid-{i}")), 401)
    assert (await _status(gateway, customer.token)).status_code == 200


async def test_wrong_token_type_header(gateway: httpx.AsyncClient, customer: Customer,
                                       signing_key: tuple[Any, str]) -> None:
    is_problem(await _status(gateway, _sign(_claims(customer), *signing_key, typ="JWT")), 401)


async def test_refresh_token_is_not_an_access_token(gateway: httpx.AsyncClient,
                                                    customer: Customer) -> None:
    assert customer.refresh_token
    is_problem(await _status(gateway, customer.refresh_token), 401)


async def test_forged_identity_headers_are_ignored(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    admin = (await gateway.get(PROFILE, headers=admin_headers)).json()
    forged = {"x-user-id": admin["id"], "x-user-role": "admin", "x-user-email": admin["email"]}
    # Without a token the headers are stripped: no identity at all.
    is_problem(await gateway.get(PROFILE, headers=forged), 401)
    is_problem(await gateway.get("/api/users", headers=forged), 401)
    # With a customer's token they are replaced by the verified identity.
    r = await gateway.get(PROFILE, headers={**customer.headers, **forged})
    assert r.status_code == 200 and r.json()["id"] == customer.id
    is_problem(await gateway.get("/api/users", headers={**customer.headers, **forged}), 403)
