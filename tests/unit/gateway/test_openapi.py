"""Merging the services' OpenAPI documents into the gateway's public one."""

from __future__ import annotations

import json
import re
from typing import Any

from services.gateway.openapi import merge, public_part


def service_doc(name: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/PageOut"}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{name} service", "version": "0.1.0"},
        "paths": {
            f"/api/{name}": {"get": {"operationId": "List", "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": ref}}},
                "404": {"description": "nf", "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}}}}},
            f"/internal/{name}/secret": {"post": {"responses": {"200": {"description": "x"}}}},
            "/metrics": {"get": {"responses": {"200": {"description": "x"}}}},
        },
        "components": {"schemas": {
            "PageOut": {"type": "object", "properties": {"items": {"type": "array", "items": {
                "$ref": "#/components/schemas/ItemOut"}}}},
            "ItemOut": {"type": "object"},
            "Problem": {"type": "object"},
        }},
    }


def test_only_public_paths_survive_with_prefixed_components() -> None:
    paths, components = public_part("products", service_doc("products"))
    assert list(paths) == ["/api/products"]
    op = paths["/api/products"]["get"]
    assert op["operationId"] == "products_List"
    assert op["tags"] == ["products"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/products_PageOut"}
    assert {"401", "429", "503"} <= set(op["responses"])
    assert set(components) == {"products_PageOut", "products_ItemOut"}  # Problem is shared
    assert components["products_PageOut"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/products_ItemOut"}


def test_two_services_with_the_same_schema_names_do_not_clash() -> None:
    doc = merge({"products": service_doc("products"), "orders": service_doc("orders")})
    schemas = doc["components"]["schemas"]
    assert {"products_PageOut", "orders_PageOut", "Problem"} <= set(schemas)
    text = json.dumps(doc)
    for ref in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert ref in schemas, ref
    assert not [p for p in doc["paths"] if "internal" in p or p == "/metrics"]
    assert {"/api", "/health", "/api/products/health", "/api/orders/health"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_the_input_documents_are_not_modified() -> None:
    doc = service_doc("users")
    before = json.dumps(doc, sort_keys=True)
    merge({"users": doc})
    assert json.dumps(doc, sort_keys=True) == before


def test_the_gateways_own_refusals_and_path_rule_are_documented() -> None:
    doc = service_doc("products")
    doc["paths"]["/api/products/{key}"] = {"put": {
        "parameters": [{"name": "key", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "ok"}}}}
    paths, _ = public_part("products", doc)
    put = paths["/api/products/{key}"]["put"]
    assert {"401", "413", "414", "429", "503"} <= set(put["responses"])
    assert "413" not in paths["/api/products"]["get"]["responses"]  # no body, no 413
    key = put["parameters"][0]["schema"]
    assert key["pattern"] == "^[^\\x00-\\x1f\\x7f#?%/]+$"
    assert key["not"] == {"enum": [".", ".."]}
