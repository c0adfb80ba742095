"""Accounts for the admin console: search and role filter, promote and demote (recorded in
users' audit trail with the admin who did it), and no admin can demote themself."""

from __future__ import annotations

import httpx

from tests.conftest import Customer, is_problem, register_customer
from tests.integration.products.test_audit import admin_identity, trail


async def test_search_by_email_name_or_id_and_filter_by_role(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    someone = await register_customer(gateway, name="Grace Searchable")
    for term in (someone.email.split("@")[0].upper(), "grace search", someone.id):
        r = await gateway.get("/api/users", headers=admin_headers,
                              params={"search": term, "page_size": "100"})
        assert r.status_code == 200, r.text
        assert someone.id in [u["id"] for u in r.json()["items"]], term
    r = await gateway.get("/api/users", headers=admin_headers,
                          params={"search": someone.email, "role": "admin"})
    assert r.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}
    r = await gateway.get("/api/users", headers=admin_headers, params={"role": "admin"})
    assert r.json()["total"] >= 1 and {u["role"] for u in r.json()["items"]} == {"admin"}
    is_problem(await gateway.get("/api/users", headers=admin_headers,
                                 params={"role": "owner"}), 400)
    is_problem(await gateway.get("/api/users", headers=admin_headers,
                                 params={"search": "x" * 300}), 400)


async def test_promote_and_demote_are_audited_and_self_demotion_is_refused(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    me = await admin_identity(gateway, admin_headers)
    for role in ("admin", "customer"):
        r = await gateway.patch(f"/api/users/{customer.id}/role", headers=admin_headers,
                                json={"role": role})
        assert r.status_code == 200 and r.json()["role"] == role, r.text
    entries = await trail(gateway, admin_headers, "users", entity_id=customer.id)
    assert [(e["action"], e["before"], e["after"]) for e in entries] == [
        ("user.role", {"role": "admin"}, {"role": "customer"}),
        ("user.role", {"role": "customer"}, {"role": "admin"})]
    assert {(e["actor_id"], e["actor_email"], e["entity_label"]) for e in entries} == {
        (me["id"], me["email"], customer.email)}

    r = await gateway.patch(f"/api/users/{me['id']}/role", headers=admin_headers,
                            json={"role": "customer"})
    is_problem(r, 409)
    assert (await admin_identity(gateway, admin_headers))["role"] == "admin"


async def test_account_admin_is_for_admins(gateway: httpx.AsyncClient,
                                           customer: Customer) -> None:
    is_problem(await gateway.get("/api/users", headers=customer.headers,
                                 params={"search": "a"}), 403)
    is_problem(await gateway.get("/api/users/audit", headers=customer.headers), 403)
    is_problem(await gateway.patch(f"/api/users/{customer.id}/role", headers=customer.headers,
                                   json={"role": "admin"}), 403)
