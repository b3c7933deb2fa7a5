"""API fuzzing: schemathesis generates requests from the OpenAPI document and sends them as real tenant tokens (a
lender's and an agency's), with the ids of each tenant's own objects in the paths, and asserts that no answer is a
server error and every answer matches the documented schema (4xx included).

Each operation gets a few derandomized examples (bounded and repeatable): schema-valid ones with real ids in the
path, and schema-invalid ones (wrong types, missing fields, odd strings) anywhere. Everything runs inside the
test's rolled-back transaction, so destructive operations only touch the factory's world.
"""
import re
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from tenants.tenancy.roles import TenantKind
from web.extensions import limiter

POSITIVE_EXAMPLES = 6
NEGATIVE_EXAMPLES = 4
CHECKS = [not_a_server_error, response_schema_conformance]
# Revoking the token the fuzzer authenticates with would turn the rest of the run into 401s.
SPARE_TOKEN = "token_id"


def _path_ids(world, spare_token_id) -> dict:
    ids = {name: str(value) for name, value in world.objects.items() if isinstance(value, uuid.UUID)}
    ids[SPARE_TOKEN] = str(spare_token_id)
    ids["event_id"] = str(world.objects["event_id"])
    ids["counterparty_id"] = str(world.tenant.id)
    ids["month"] = "2026-11"
    return ids


def _fuzz_operation(operation, client, headers, path_ids, failures) -> None:
    names = set(re.findall(r"{(\w+)}", operation.path))
    known = {name: path_ids[name] for name in names if name in path_ids}
    strategies = [
        (operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE, path_parameters=known),
         POSITIVE_EXAMPLES),
        (operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES),
    ]
    for strategy, examples in strategies:
        @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def send(case):
            response = case.call(session=client, headers=headers)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as failure:
                failures.append(f"{operation.method.upper()} {operation.path} -> {response.status_code}: "
                                f"{str(failure)[:1500]}")
        send()


@pytest.mark.parametrize("kind", [TenantKind.LENDER, TenantKind.AGENCY])
def test_no_server_error_and_documented_answers(app, client, factory, monkeypatch, kind):
    monkeypatch.setattr(limiter, "enabled", False)  # thousands of requests a minute are the point here
    world = factory.world(kind)
    spare_token, _ = factory.token(world.tenant)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {world.token_secret}"}
    path_ids = _path_ids(world, spare_token.id)
    failures: list[str] = []
    for result in schema.get_all_operations():
        _fuzz_operation(result.ok(), client, headers, path_ids, failures)
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
