"""Shoppers and a shop owner, as Locust users, against the gateway (the one public entry).

Run it with `bench/load.sh` (headless, HTML report and CSV under .local/load/); by hand:
`.venv/bin/locust -f bench/locustfile.py --host http://127.0.0.1:8080`.

Journeys, weighted like a shop's day: most visitors browse the storefront's pages and search
(with typos), open products and fill a guest basket; some sign up, check out their basket and
follow the order and its notifications; returning customers log in and look at their orders;
one admin ships and delivers what was paid. Request names are route templates, so the report
has one row per step, not per product.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ROOT / ".local" / "secrets.json"
ADDRESS = {"name": "Load Shopper", "line1": "1 Bench Street", "city": "Springfield",
           "postal_code": "12345", "country": "US"}
TYPOS = ["hedphones", "keybord", "cofee", "lamp", "jaket", "bakpack", "speker", "mug", "tent",
         "running shoes", "wireles", "yoga"]
FINAL = {"processing", "shipped", "delivered", "cancelled"}

# Filled once per run (test_start): the catalog's product ids and categories.
CATALOG: dict[str, list[str]] = {"ids": [], "categories": []}
PLACED: list[str] = []  # every order id a shopper placed, checked at the end of the run


@events.test_start.add_listener
def load_catalog(environment: Environment, **_: Any) -> None:
    import httpx

    host = environment.host or "http://127.0.0.1:8080"
    with httpx.Client(base_url=host, timeout=10) as client:
        ids: list[str] = []
        for page in (1, 2, 3, 4):
            r = client.get("/api/products", params={"page": page, "page_size": 100,
                                                    "in_stock": "true"})
            r.raise_for_status()
            ids += [p["id"] for p in r.json()["items"]]
            if len(r.json()["items"]) < 100:
                break
        CATALOG["ids"] = ids
        CATALOG["categories"] = [c["name"] for c in
                                 client.get("/api/products/categories").json()["items"]]
    if not CATALOG["ids"]:
        raise RuntimeError("the catalog is empty: seed it first (scripts/seed.py)")


class Session:
    """A signed-in user's tokens: the access token lives 15 minutes (users' setting), so a
    run longer than that rotates it through `POST /api/users/refresh` a minute before it
    expires, as the storefront does; without it a soak's shoppers were all 401 from minute
    15 on and stopped ordering."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._take(body)

    def _take(self, body: dict[str, Any]) -> None:
        self.token, self.refresh_token = body["token"], body["refresh_token"]
        self.renew_at = time.monotonic() + max(1, int(body["expires_in"]) - 60)

    def headers(self, client: Any) -> dict[str, str]:
        if time.monotonic() >= self.renew_at:
            r = client.post("/api/users/refresh", name="/api/users/refresh",
                            json={"refresh_token": self.refresh_token})
            if r.status_code == 200:
                self._take(r.json())
        return {"Authorization": f"Bearer {self.token}"}


class Shopper(FastHttpUser):
    """A visitor: browses pages, searches, fills a guest basket; may sign up and check out."""

    weight = 12
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.session: Session | None = None
        r = self.client.post("/api/basket/guest", name="/api/basket/guest")
        self.basket = {"X-Basket-Token": r.json()["token"]} if r.status_code == 201 else {}

    def _product(self) -> str:
        return random.choice(CATALOG["ids"])

    @property
    def auth(self) -> dict[str, str]:
        return self.session.headers(self.client) if self.session else {}

    def _headers(self) -> dict[str, str]:
        return self.auth or self.basket

    @task(6)
    def home_and_catalog_pages(self) -> None:
        self.client.get("/", name="page /")
        params = random.choice([{"category": random.choice(CATALOG["categories"])},
                                {"sort": "price"}, {"page": "2"},
                                {"max_price": "50", "sort": "-price"}])
        self.client.get("/products", params=params, name="page /products")

    @task(4)
    def search_with_typos(self) -> None:
        q = random.choice(TYPOS)
        self.client.get("/products", params={"search": q}, name="page /products?search")
        self.client.get("/api/products", params={"search": q}, name="/api/products?search")

    @task(5)
    def open_products(self) -> None:
        pid = self._product()
        self.client.get(f"/products/{pid}", name="page /products/{id}")
        self.client.get(f"/api/products/{pid}", name="/api/products/{id}")

    @task(4)
    def add_and_change_basket(self) -> None:
        pid = self._product()
        self.client.post(f"/api/basket/items/{pid}/add", json={"quantity": 1},
                         headers=self._headers(), name="/api/basket/items/{id}/add")
        self.client.put(f"/api/basket/items/{pid}", json={"quantity": random.randint(1, 3)},
                        headers=self._headers(), name="/api/basket/items/{id}")
        self.client.get("/api/basket", headers=self._headers(), name="/api/basket")

    @task(2)
    def sign_up_and_check_out(self) -> None:
        if self.session is None:
            email = f"load-{uuid.uuid4().hex[:12]}@example.com"
            r = self.client.post("/api/users/register", name="/api/users/register",
                                 json={"email": email, "password": "load-test-pass-1",
                                       "name": "Load Shopper"})
            if r.status_code != 201:
                return
            self.session = Session(r.json())
            if self.basket:
                self.client.post("/api/basket/merge", headers=self.auth,
                                 json={"guest_token": self.basket["X-Basket-Token"]},
                                 name="/api/basket/merge")
        for _ in range(random.randint(1, 2)):
            self.client.post(f"/api/basket/items/{self._product()}/add", json={"quantity": 1},
                             headers=self.auth, name="/api/basket/items/{id}/add")
        key = uuid.uuid4().hex
        with self.client.post("/api/basket/checkout", headers={**self.auth,
                              "Idempotency-Key": key},
                              json={"shipping_address": ADDRESS,
                                    "payment_method": random.choice(["tok_visa"] * 9
                                                                    + ["tok_decline"])},
                              name="/api/basket/checkout", catch_response=True) as r:
            if r.status_code == 409:  # a line sold out meanwhile: the shopper's problem
                r.success()
                return
        if r.status_code not in (200, 201):
            return
        order_id = r.json()["id"]
        PLACED.append(order_id)
        self._follow(order_id)

    def _follow(self, order_id: str) -> None:
        """Poll the order like the confirmation page does, then look at the feed."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = self.client.get(f"/api/orders/{order_id}", headers=self.auth,
                                name="/api/orders/{id}")
            if r.status_code == 200 and r.json()["status"] in FINAL:
                break
            time.sleep(0.5)
        self.client.get("/api/notifications", headers=self.auth, name="/api/notifications")

    @task(1)
    def look_at_orders(self) -> None:
        if self.session:
            self.client.get("/api/orders", headers=self.auth, name="/api/orders")
            self.client.get("/api/notifications", params={"unread": "true"},
                            headers=self.auth, name="/api/notifications")


class ShopOwner(FastHttpUser):
    """The admin: ships what was paid and delivers what was shipped."""

    weight = 1
    fixed_count = 1
    wait_time = between(2.0, 4.0)

    def on_start(self) -> None:
        secrets = json.loads(SECRETS.read_text())
        r = self.client.post("/api/users/login", name="/api/users/login",
                             json={"email": secrets.get("admin-email", "admin@shop.local"),
                                   "password": secrets["admin-password"]})
        self.session = Session(r.json())

    @property
    def auth(self) -> dict[str, str]:
        return self.session.headers(self.client)

    @task
    def ship_and_deliver(self) -> None:
        for status, then in (("processing", "shipped"), ("shipped", "delivered")):
            r = self.client.get("/api/orders", params={"status": status, "page_size": 10},
                                headers=self.auth, name=f"/api/orders?status={status}")
            if r.status_code != 200:
                continue
            for order in r.json()["items"][:5]:
                with self.client.patch(f"/api/orders/{order['id']}/status",
                                       json={"status": then}, headers=self.auth,
                                       name=f"/api/orders/{{id}}/status {then}",
                                       catch_response=True) as resp:
                    if resp.status_code == 409:  # a shopper cancelled it meanwhile
                        resp.success()


@events.test_stop.add_listener
def check_orders(environment: Environment, **_: Any) -> None:
    """Every order placed must reach a final or waiting state: none left pending."""
    import httpx

    if not PLACED:
        return
    secrets = json.loads(SECRETS.read_text())
    host = environment.host or "http://127.0.0.1:8080"
    with httpx.Client(base_url=host, timeout=10) as client:
        token = client.post("/api/users/login", json={
            "email": secrets.get("admin-email", "admin@shop.local"),
            "password": secrets["admin-password"]}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        states: dict[str, int] = {}
        deadline = time.monotonic() + 60
        pending = list(PLACED)
        while pending and time.monotonic() < deadline:
            still = []
            for order_id in pending:
                status = client.get(f"/api/orders/{order_id}", headers=auth).json()["status"]
                if status in FINAL:
                    states[status] = states.get(status, 0) + 1
                else:
                    still.append(order_id)
            pending = still
            if pending:
                time.sleep(1)
        if pending:
            states["still pending after 60 s"] = len(pending)
    print(f"orders placed: {len(PLACED)}; states: {json.dumps(states, sort_keys=True)}")
    if pending:
        environment.process_exit_code = 1
