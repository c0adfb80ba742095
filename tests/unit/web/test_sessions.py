"""The storefront's session and CSRF rules that need no stack."""

from __future__ import annotations

import pytest

from services.web.middleware import session_cookie
from services.web.pages import money, reason_text, safe_next
from services.web.sessions import SessionData, User, csrf_ok, csrf_token, new_id, valid_id


def test_session_ids_are_random_and_well_formed() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(valid_id(i) for i in ids)
    assert not valid_id("short") and not valid_id(None) and not valid_id("a" * 43 + ";")


def test_csrf_token_belongs_to_its_session() -> None:
    a, b = new_id(), new_id()
    assert csrf_ok(a, csrf_token(a))
    assert not csrf_ok(a, csrf_token(b))
    assert not csrf_ok(a, None) and not csrf_ok(a, "")
    assert csrf_token(a) != a  # the page never shows the cookie's value


def test_cookie_flags() -> None:
    plain = session_cookie("x" * 43, secure=False).decode()
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Path=/" in plain
    assert "Secure" not in plain
    assert session_cookie("x" * 43, secure=True).decode().endswith("; Secure")


@pytest.mark.parametrize(("raw", "want"), [
    ("/checkout", "/checkout"), ("/products?search=a", "/products?search=a"),
    (None, "/"), ("", "/"), ("//evil.example", "/"), ("https://evil.example", "/"),
    ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
])
def test_redirects_stay_on_the_site(raw: str | None, want: str) -> None:
    assert safe_next(raw) == want


def test_an_empty_session_is_not_stored() -> None:
    assert SessionData().empty
    assert not SessionData(user=User(id="1", email="a@b.c", name="A")).empty
    assert not SessionData(basket_token="t").empty


def test_words_for_shoppers() -> None:
    assert money("1234.5") == "$1,234.50"
    assert "declined" in reason_text("payment_declined")
    assert reason_text("something_new") == "Something new."
    assert reason_text(None) == ""
