"""Schema-driven test of the public API: schemathesis generates requests for every operation
of the gateway's merged /openapi.json and sends them to the live gateway.

Two runs, both with every check schemathesis 4 has:

* per operation, its explicit examples, the coverage cases (boundaries, each missing required
  parameter, each undeclared method) and FUZZ_EXAMPLES random cases drawn from positive
  *and* negative generation (schema-valid data must be accepted, schema-violating data
  rejected with a 4xx);
* a stateful run (`schema.as_state_machine()`): sequences of calls chained by the OpenAPI
  links of the document (create a product, then read, change, stock and delete it; register,
  then read the profile; put a basket line, then read the basket; place an order, then
  read and cancel it), so the checks that need history (use_after_free,
  ensure_resource_availability) have something to judge.

Checks: the list is `schemathesis.checks.CHECKS`, all enabled (not_a_server_error,
status_code_conformance, content_type_conformance, response_headers_conformance,
response_schema_conformance, negative_data_rejection, positive_data_acceptance,
missing_required_header, unsupported_method, allow_header_conformance, use_after_free,
ensure_resource_availability, ignored_auth, object_level_authorization). `max_response_time`
is the one left off: it takes a limit, and a latency bound on a two-core machine shared with
other work measures the machine, not the API (latency has its own benches, bench/README.md).

Sizes: the suite runs FUZZ_EXAMPLES (default 30) derandomized generated cases per operation
and FUZZ_SCENARIOS (default 50) stateful scenarios, about 2 minutes; at 100 and 100 the run
takes 4.5 to 5 minutes, more than the suite's share, so `scripts/fuzz.sh` runs the large
one (100 per operation, 200 scenarios, fresh randomness; bench/README.md). Each run prints
the cases per operation and what the state machine did. FUZZ_OPERATIONS (a regular
expression on "METHOD /path") limits the per-operation run.

Authentication: the admin's operations (the catalog's and inventory's writes, the audit
trails, stats and dead letters, the user list) run with the admin's token, everything else
with a fresh customer's, so the fuzzer cannot rename the admin or change roles. The state
machine also follows links schemathesis infers (a listing's item ids to PUT and DELETE): there
the admin's token goes only with products the run created, so the seeded catalog is never
changed (others get the customer's token and its 403), and the products a test created are
deleted after it. `ignored_auth` repeats each authenticated
success without a token and with a wrong one.

No check is turned off for an operation. One is narrowed: positive_data_acceptance lets a
refusal of schema-valid input pass only where SEMANTIC_REFUSALS names the operation, the
status, the fields of the problem and the rule OpenAPI cannot state.
"""

from __future__ import annotations

import collections
import os
import re
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import stack

# The suite's sizes (about 2 minutes here); scripts/fuzz.sh sets larger ones.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "50"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
# A regular expression on "METHOD /path" to fuzz only some operations (reproducing one).
ONLY = re.compile(os.environ.get("FUZZ_OPERATIONS", ".*"))
# The admin's operations: the catalog's and inventory's writes and the console's reads.
# Everything else runs as a customer (an admin would see deleted products and every order).
ADMIN_WRITES = ("/api/products", "/api/inventory")
ADMIN_READS = ("/audit", "/stats")
ADMIN_AREAS = ("/api/notifications/dead-letters",)


def _is_admin_operation(method: str, path: str) -> bool:
    if path.startswith(ADMIN_WRITES) and method != "GET":
        return True
    return (path.endswith(ADMIN_READS) or path.startswith(ADMIN_AREAS)
            or (method, path) == ("GET", "/api/users"))


class Refusal(NamedTuple):
    """A refusal (422, or 400 for a query) the API gives to schema-valid input, on the
    fields named (regular expressions), and why OpenAPI cannot say it."""

    fields: tuple[str, ...]
    why: str
    status: int = 422


# positive_data_acceptance holds for every operation, except that these refusals on these
# fields pass: each is a rule no JSON Schema in the document can state.
SEMANTIC_REFUSALS: dict[str, Refusal] = {
    "GET /api/products": Refusal(
        ("min_price",), "min_price <= max_price: one rule over two parameters", status=400),
    "POST /api/orders": Refusal(
        (r"items\[\d+\]\.product_id",), "a product id must name a product on sale"),
    "GET /api/orders/stats": Refusal(
        ("from", "to"), "from <= to, at most 366 days apart: one rule over two parameters"),
    "PATCH /api/orders/{order_id}/status": Refusal(
        ("carrier", "tracking_number"), "carrier and tracking number go with `shipped` only"),
    "PATCH /api/users/profile": Refusal(
        ("current_password",), "a new password needs the current one (null is allowed alone)"),
    "PUT /api/products/{product_id}/image": Refusal(
        ("body",), "format: binary says bytes; only a decodable 32-6000 px picture is one"),
    "POST /api/users/verify-email": Refusal(
        ("token",), "only a token the service e-mailed, unused and unexpired, is live"),
    "POST /api/users/password-reset/confirm": Refusal(
        ("token",), "only a token the service e-mailed, unused and unexpired, is live"),
}


def positive_data_acceptance_or_explained(ctx: Any, response: Any, case: Case) -> bool | None:
    """schemathesis' positive_data_acceptance, except for a SEMANTIC_REFUSALS entry."""
    refusal = SEMANTIC_REFUSALS.get(case.operation.label)
    if refusal is not None and response.status_code == refusal.status:
        try:
            fields = {e.get("field") for e in response.json().get("errors") or ()}
        except ValueError:
            fields = set()
        if fields and all(any(re.fullmatch(p, str(f)) for p in refusal.fields)
                          for f in fields):
            return None
    return positive_data_acceptance(ctx, response, case)


CHECK_OVERRIDES: dict[str, Any] = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_acceptance_or_explained]}


class Findings:
    """Failed checks, the first report of each (operation, check) kept. A case's failure is
    recorded and the run goes on: Hypothesis would otherwise replay the case to report it,
    and a replay against a live API (whose answers depend on what ran before) is not the
    same case; every distinct failure of the run is listed at the end."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], str] = {}

    def check(self, case: Case, validate: Any) -> None:
        try:
            validate()
        except FailureGroup as exc:
            for failure in exc.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                self.first.setdefault((case.operation.label, title), str(exc)[:3000])

    def report(self) -> str:
        return "\n\n".join(f"{label} [{title}]: {text}"
                             for (label, title), text in sorted(self.first.items()))


@pytest.fixture(scope="session")
def api_schema(platform: dict[str, str]) -> Any:
    schema = schemathesis.openapi.from_url(f"{stack.GATEWAY_URL}/openapi.json")
    admin = platform["admin-email"].lower()

    def not_the_admins_password(context: Any, case: Case) -> bool:
        # schemathesis draws string constants from the project's code, the seeded admin's
        # address among them: its wrong guesses would reach the per-account cap (50 an hour
        # from all addresses, docs/security.md) and lock the admin out of every later test.
        body = case.body if isinstance(case.body, dict) else {}
        email = body.get("email")
        return not (case.operation.label == "POST /api/users/login"
                    and isinstance(email, str) and email.strip().lower() == admin)

    schema.hooks.register_hook_with_name(not_the_admins_password, "filter_case")
    schema.config.update(base_url=stack.GATEWAY_URL, request_timeout=30)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES,
        deterministic=not RANDOM, database="none",
        # The test sends real tokens (below); ignored_auth tries each operation without one
        # and with a wrong one, so a generated Authorization header would only waste cases.
        with_security_parameters=False)
    # A negative case longer than the gateway's URL limit is refused with 414 URI Too Long,
    # a rejection schemathesis' default list of refusing statuses does not name.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "414"]
    return schema


class Auth:
    """The tokens the cases run with: the admin's, and a customer's."""

    def __init__(self, admin: dict[str, str], customer: dict[str, str]) -> None:
        self.admin = admin
        self.customer = customer
        self.created_products: list[str] = []

    def note(self, case: Case, response: Any) -> None:
        if case.operation.label == "POST /api/products" and response.status_code == 201:
            self.created_products.append(response.json()["id"])

    def headers(self, case: Case, *, own_products_only: bool = False) -> dict[str, str]:
        if any(k.lower() == "authorization" for k in case.headers or {}):
            return {}
        method, path = case.operation.method.upper(), case.operation.path
        if not _is_admin_operation(method, path):
            return dict(self.customer)
        product = str((case.path_parameters or {}).get("product_id", ""))
        if (own_products_only and path.startswith(ADMIN_WRITES) and product
                and product not in self.created_products):
            return dict(self.customer)  # 403: the seeded catalog is not the fuzzer's
        return dict(self.admin)


@pytest.fixture
def auth(admin_headers: dict[str, str], customer_headers: dict[str, str]) -> Iterator[Auth]:
    auth = Auth(admin_headers, customer_headers)
    yield auth
    # The products the test created leave the shop (soft delete) before the next test: the
    # contract tests run first, and a hundred nameless products would crowd the catalog.
    with requests.Session() as http:
        for product_id in auth.created_products:
            http.delete(f"{stack.GATEWAY_URL}/api/products/{product_id}", headers=admin_headers,
                        timeout=30)


def _fuzz(operation: Any, http: requests.Session, auth: Auth,
          counts: collections.Counter[str], findings: Findings) -> None:
    def run(case: Case) -> None:
        counts[operation.label] += 1
        def call() -> None:
            auth.note(case, case.call_and_validate(
                session=http, headers=auth.headers(case), **CHECK_OVERRIDES))

        findings.check(case, call)

    feedback = FeedbackSources(
        constants_value_source=make_constants_value_source(operation.schema))
    test = build_operation_test(config=operation.schema.config, operation=operation,
                                test_func=run, given_kwargs={}, feedback=feedback)
    test()


def test_every_operation_answers_as_documented(api_schema: Any, auth: Auth) -> None:
    """Every operation of /openapi.json: examples, coverage cases and EXAMPLES positive and
    negative cases, each passing every check.

    (One test that walks the operations: schemathesis' own pytest parametrisation of a lazy
    schema does not run on pytest 9.)
    """
    http = requests.Session()
    failures: list[str] = []
    findings = Findings()
    counts: collections.Counter[str] = collections.Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40, [op.label for op in operations]
    operations = [op for op in operations if ONLY.search(op.label)]
    started = time.monotonic()
    for operation in operations:
        try:
            _fuzz(operation, http, auth, counts, findings)
        except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
            failures.append(f"{operation.label}: {str(exc)[:3000]}")
    print(f"\n{sum(counts.values())} cases over {len(operations)} operations in "
          f"{time.monotonic() - started:.0f}s (FUZZ_EXAMPLES={EXAMPLES}, random={RANDOM}); "
          f"fewest: {min(counts.values()) if counts else 0}")
    for label, n in sorted(counts.items()):
        print(f"  {n:5d}  {label}")
    assert not findings.first, findings.report()
    assert not failures, "\n\n".join(failures)
    assert all(counts[op.label] for op in operations), counts


def test_stateful_sequences_follow_the_links(api_schema: Any, auth: Auth) -> None:
    """SCENARIOS sequences of calls chained by the document's links, every check on each."""
    http = requests.Session()
    steps: collections.Counter[str] = collections.Counter()
    findings = Findings()
    scenarios = suites = 0
    # Calls on a product this run created: the links at work (a drawn id names nothing).
    linked: collections.Counter[str] = collections.Counter()

    class Machine(api_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            nonlocal scenarios
            scenarios += 1

        def after_call(self, response: Any, case: Case) -> None:
            super().after_call(response, case)
            auth.note(case, response)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            steps[case.operation.label] += 1
            if set(map(str, (case.path_parameters or {}).values())) & set(
                    auth.created_products):
                linked[case.operation.label] += 1
            # schemathesis also infers links (GET /api/products -> item ids -> DELETE):
            # the admin changes only products this run created.
            return {"session": http, "headers": auth.headers(case, own_products_only=True)}

        def validate_response(self, response: Any, case: Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            findings.check(case, lambda: case.validate_response(
                response, transport_kwargs=kwargs or None, recorder=self.recorder,
                **CHECK_OVERRIDES))

    started = time.monotonic()
    # Hypothesis ends a run whose choices meet a different live answer than before
    # (FlakyStrategyDefinition: the API's state moved on); like schemathesis' own engine, a
    # new suite then goes on from there, with the next seed, until SCENARIOS have run.
    for suite in range(20):
        if scenarios >= SCENARIOS:
            break
        machine = Machine if RANDOM else hypothesis.seed(suite)(Machine)
        suites += 1
        try:
            run_state_machine_as_test(machine, settings=hypothesis.settings(
                max_examples=SCENARIOS - scenarios, deadline=None, database=None,
                phases=[hypothesis.Phase.generate], stateful_step_count=10,
                suppress_health_check=list(hypothesis.HealthCheck)))
        except hypothesis.errors.Flaky:
            continue
    print(f"\n{sum(steps.values())} stateful calls in {scenarios} scenarios "
          f"({suites} suites) in {time.monotonic() - started:.0f}s")
    for label, n in sorted(steps.items()):
        print(f"  {n:5d}  {label}")
    print(f"  calls on a product the run created: {dict(linked)}")
    assert not findings.first, findings.report()
    assert scenarios >= SCENARIOS, scenarios
    assert len(linked) >= 3, linked


def test_the_document_has_links_for_the_stateful_run(platform: dict[str, str]) -> None:
    """A created resource names the operations that read, change and remove it."""
    doc = requests.get(f"{stack.GATEWAY_URL}/openapi.json", timeout=10).json()
    created = doc["paths"]["/api/products"]["post"]["responses"]["201"]
    assert {"GetProduct", "DeleteProduct"} <= set(created.get("links", {})), created


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/api/users/register"), ("patch", "/api/users/{user_id}/role"),
    ("patch", "/api/orders/{order_id}/status"), ("put", "/api/products/{product_id}"),
    ("patch", "/api/products/{product_id}"),
])
def test_routes_that_can_conflict_document_their_409(platform: dict[str, str], method: str,
                                                     path: str) -> None:
    """A 409 the fuzzer reaches only rarely (an e-mail registered twice) is documented too."""
    doc = requests.get(f"{stack.GATEWAY_URL}/openapi.json", timeout=10).json()
    response = doc["paths"][path][method]["responses"].get("409")
    assert response and "application/problem+json" in response["content"], (method, path)
