"""Listing parameters of the products service: validation and normalisation (no stack)."""

from __future__ import annotations

from typing import Any

import pytest

from services.products.cache import item_key, list_key
from services.products.service import InvalidQuery, build_query, fuzzy_words

DEFAULTS: dict[str, Any] = {"search": None, "category": None, "min_price": None,
                            "max_price": None, "in_stock": None, "sort": None, "page": 1,
                            "page_size": 20}


def query(**kw: Any) -> Any:
    return build_query(**{**DEFAULTS, **kw})


def test_defaults_and_normalisation() -> None:
    q = query(search="  wireless   Headphones ", category=" Electronics ", min_price="5",
              max_price="10.5")
    assert q.search == "wireless Headphones"
    assert q.category == "electronics"
    assert (q.min_price, q.max_price) == ("5.00", "10.50")
    assert q.sort == "relevance" and (q.page, q.page_size) == (1, 20)
    assert query(search="   ").search is None
    assert query(min_price="").min_price is None


@pytest.mark.parametrize(("kw", "fields"), [
    ({"page": 0}, {"page"}),
    ({"page_size": 0}, {"page_size"}),
    ({"page_size": 101}, {"page_size"}),
    ({"min_price": "-0.01"}, {"min_price"}),
    ({"max_price": "1000"}, set()),
    ({"max_price": "1e3"}, {"max_price"}),  # digits only, as the documented pattern says
    ({"max_price": "NaN"}, {"max_price"}),
    ({"min_price": "0.001"}, {"min_price"}),
    ({"min_price": "20", "max_price": "10"}, {"min_price"}),
    ({"sort": "price desc"}, {"sort"}),
    ({"search": "x" * 201}, {"search"}),
    ({"search": "a\x00b"}, {"search"}),
    ({"category": "c" * 61}, {"category"}),
    ({"page": 0, "sort": "bogus", "min_price": "x"}, {"page", "sort", "min_price"}),
])
def test_bad_parameters_name_their_fields(kw: dict[str, Any], fields: set[str]) -> None:
    if not fields:
        assert query(**kw).max_price == "1000.00"
        return
    with pytest.raises(InvalidQuery) as err:
        query(**kw)
    assert err.value.status == 400  # a query parameter: a bad request, like page=abc
    assert {e["field"] for e in err.value.errors or []} == fields


@pytest.mark.parametrize("sort", ["relevance", "price", "-price", "name", "newest"])
def test_every_documented_sort_is_accepted(sort: str) -> None:
    assert query(sort=sort).sort == sort


def test_equivalent_requests_share_one_cache_entry() -> None:
    a = query(search="Lamp", category="Home", min_price="10")
    b = query(search=" Lamp ", category="home", min_price="10.00")
    assert list_key(a) == list_key(b)
    assert list_key(a) != list_key(query(search="Lamp", category="Home", min_price="11"))
    assert list_key(a) != list_key(query(search="Lamp", category="Home", min_price="10",
                                         page=2))
    assert item_key("x") != list_key(a)


@pytest.mark.parametrize(("search", "words"), [
    ("hedphones", ["hedphones"]),
    ("Wireles Hedphones", ["wireles", "hedphones"]),
    ("a tv of", []),
    ("usb c charger", ["usb", "charger"]),
    ('"exact phrase"', []),
    ("shoes -trail", []),
    ("socks or shoes", []),
    ("one two three four five", []),
])
def test_typo_tolerance_applies_to_short_plain_queries(search: str, words: list[str]) -> None:
    assert fuzzy_words(search) == words
