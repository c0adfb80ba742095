"""services.common.app completes Litestar's generated OpenAPI document so that it says what
the decoder does (the contract tests' positive and negative cases rely on it)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Litestar, get, post
from litestar.params import Parameter

from services.common.app import _bind_options_handlers
from services.common.openapi import NO_NUL, document_errors_and_security


class Line(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(ge=0, le=99)]
    note: str = ""


class Change(msgspec.Struct, forbid_unknown_fields=True):
    __schema_extra__: ClassVar[dict[str, Any]] = {"min_properties": 1}

    amount: int | float | None = None
    lines: list[Line] = []


class Open(msgspec.Struct):
    anything: str


@post("/change", sync_to_thread=False)
def change(data: Change) -> None:
    return None


@post("/open", sync_to_thread=False)
def open_(data: Open) -> None:
    return None


@get("/read", sync_to_thread=False)
def read(token: Annotated[str | None, Parameter(header="x-token")] = None,
         q: str | None = None) -> None:
    return None


@post("/read", sync_to_thread=False)
def write() -> None:
    return None


def _doc() -> dict[str, Any]:
    app = Litestar([change, open_, read])
    app.register(write)  # a second handler group on /read
    document_errors_and_security(app)
    _bind_options_handlers(app)
    return msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))


def test_closed_structs_bounds_of_zero_numbers_and_extras_are_documented() -> None:
    schemas = _doc()["components"]["schemas"]
    line, change_, open_schema = schemas["Line"], schemas["Change"], schemas["Open"]
    assert line["additionalProperties"] is False and change_["additionalProperties"] is False
    assert "additionalProperties" not in open_schema  # a Struct that takes unknown fields
    assert line["properties"]["quantity"]["minimum"] == 0  # Litestar drops a bound of 0
    assert line["properties"]["note"]["pattern"] == NO_NUL
    assert change_["minProperties"] == 1
    types = [b.get("type") for b in change_["properties"]["amount"]["oneOf"]]
    assert "integer" not in types and "number" in types


def test_a_header_is_never_null_but_a_query_value_may_be() -> None:
    params = {p["name"]: p["schema"] for p in _doc()["paths"]["/read"]["get"]["parameters"]}
    assert params["x-token"]["type"] == "string" and "oneOf" not in params["x-token"]
    assert {"type": "null"} in params["q"]["oneOf"]  # Litestar reads ?q=null as None


def test_options_lists_the_methods_of_every_handler_group() -> None:
    from litestar.testing import TestClient

    app = Litestar([read])
    app.register(write)
    _bind_options_handlers(app)
    with TestClient(app) as client:
        allow = client.options("/read").headers["allow"]
    assert set(allow.replace(" ", "").split(",")) == {"GET", "OPTIONS", "POST"}
