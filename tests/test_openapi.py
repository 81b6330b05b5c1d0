import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from scheduling_service.app import create_app
from scheduling_service.config import Settings
from scheduling_service.pipeline import CreatableStatus
from tests.wire import schema_validator

OPENAPI_FILE = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_document_is_what_the_app_serves(app: FastAPI) -> None:
    committed = json.loads(OPENAPI_FILE.read_text())

    assert committed == app.openapi(), "run `make openapi` and commit openapi/openapi.json"


async def test_openapi_document_is_served(client: AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "scheduling-service"


# --- The document as a contract ----------------------------------------------------------------

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(_env_file=None, jwt_secret="x" * 40)  # type: ignore[call-arg]
    served: dict[str, Any] = create_app(settings, "unused://").openapi()
    return served


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = document["components"]["schemas"][name]
    return schema


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_operation_has_a_unique_operation_id_and_a_summary(
    document: dict[str, Any],
) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    missing_summary = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if not operation.get("summary")
    ]

    assert all(ids), ids
    assert len(set(ids)) == len(ids), ids
    assert missing_summary == []


def test_v1_operations_need_the_bearer_token_and_document_its_problems(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["HTTPBearer"]
    # 404 on every resource; 403 where a role is needed, checked by tests/api/test_tenancy.py.
    undocumented = {
        f"{method} {path}": sorted(
            {"401", "422", "503", *(["404"] if "{" in path else [])} - set(op["responses"])
        )
        for method, path, op in operations(document)
        if path.startswith("/v1/")
    }

    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert all(
        op.get("security") == [{"HTTPBearer": []}]
        for _, path, op in operations(document)
        if path.startswith("/v1/")
    )
    assert undocumented == {name: [] for name in undocumented}


def test_size_limits_are_documented_where_they_apply(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        answers = operation["responses"]
        if "requestBody" in operation:
            assert "413" in answers, f"{method} {path}"
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "414" in answers, f"{method} {path}"


def test_problems_are_documented_as_problem_json_only(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            content = answer.get("content", {})
            if any(media.get("schema") == PROBLEM_SCHEMA for media in content.values()):
                assert list(content) == ["application/problem+json"], f"{method} {path} {status}"


def test_request_and_success_bodies_have_examples(document: dict[str, Any]) -> None:
    bodies = []
    for method, path, operation in operations(document):
        request = operation.get("requestBody", {}).get("content", {})
        bodies += [(f"{method} {path} request", media) for media in request.values()]
        for status, answer in operation["responses"].items():
            if status.startswith("2"):
                for media_type, media in answer.get("content", {}).items():
                    if "json" in media_type:
                        bodies.append((f"{method} {path} {status}", media))
    without = [
        name
        for name, media in bodies
        if "example" not in media
        and "examples" not in media
        and "examples" not in resolved(document, media["schema"])
    ]

    assert bodies
    assert without == []


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            errors = [e.message for e in schema_validator(document, schema).iter_errors(example)]
            assert errors == [], f"{name}: {errors}"
            checked += 1
    for method, path, operation in operations(document):
        answers = [operation.get("requestBody", {}), *operation["responses"].values()]
        for answer in answers:
            for media in answer.get("content", {}).values():
                if "example" in media:
                    errors = [
                        e.message
                        for e in schema_validator(document, media["schema"]).iter_errors(
                            media["example"]
                        )
                    ]
                    assert errors == [], f"{method} {path}: {errors}"
                    checked += 1

    assert checked > 30


def test_webhook_documents_its_signature_header_envelope_and_refusals(
    document: dict[str, Any],
) -> None:
    webhook = document["paths"]["/webhooks/calcom/{cohort_id}"]["post"]
    [signature] = [p for p in webhook["parameters"] if p["in"] == "header"]
    body = webhook["requestBody"]["content"]["application/json"]

    assert signature["name"].lower() == "x-cal-signature-256"
    assert "HMAC-SHA256" in signature["schema"].get("description", signature.get("description"))
    assert webhook["security"] == []
    [cohort_id] = [p for p in webhook["parameters"] if p["name"] == "cohort_id"]
    assert cohort_id["schema"]["format"] == "uuid"
    assert {"triggerEvent", "createdAt", "payload"} <= set(body["schema"]["properties"])
    assert {"uid", "startTime", "endTime", "attendees"} <= set(
        body["schema"]["properties"]["payload"]["properties"]
    )
    assert body["example"]["triggerEvent"] == "BOOKING_CREATED"
    assert {"200", "400", "401", "404", "413", "415", "422", "503"} <= set(webhook["responses"])


# --- The document says exactly what the wire carries --------------------------------------


def walk(node: Any) -> Any:
    """Every dict and list inside `node`, examples excluded (they are data, not schema)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in ("example", "examples"):
                yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def schemas_reached(document: dict[str, Any], roots: list[Any]) -> set[str]:
    names: set[str] = set()
    pending = list(roots)
    while pending:
        for node in walk(pending.pop()):
            ref = node.get("$ref") if isinstance(node, dict) else None
            if ref and (name := ref.rsplit("/", 1)[-1]) not in names:
                names.add(name)
                pending.append(document["components"]["schemas"][name])
    return names


def request_schemas(document: dict[str, Any]) -> set[str]:
    return schemas_reached(
        document, [op.get("requestBody", {}) for _, _, op in operations(document)]
    )


def success_schemas(document: dict[str, Any]) -> set[str]:
    return schemas_reached(
        document,
        [
            answer
            for _, _, op in operations(document)
            for status, answer in op["responses"].items()
            if status.startswith("2")
        ],
    )


def test_no_schema_says_default_null(document: dict[str, Any]) -> None:
    # A generator reads `default: null` as "always sent, maybe null".
    found = [
        node
        for node in walk(document["components"])
        if isinstance(node, dict) and "default" in node and node["default"] is None
    ]

    assert found == []


def test_every_property_of_an_answer_is_always_sent(document: dict[str, Any]) -> None:
    # Answers carry every property, null when there is nothing: never left out.
    left_out = {
        name: sorted(set(schema.get("properties", {})) - set(schema.get("required", [])))
        for name in success_schemas(document)
        if (schema := document["components"]["schemas"][name]).get("properties")
    }

    assert left_out == {name: [] for name in left_out}


def test_a_request_property_the_client_may_leave_out_has_no_default(
    document: dict[str, Any],
) -> None:
    with_default = [
        f"{name}.{field}"
        for name in request_schemas(document)
        for field, prop in document["components"]["schemas"][name].get("properties", {}).items()
        if field not in document["components"]["schemas"][name].get("required", [])
        and "default" in prop
    ]

    assert request_schemas(document)
    assert with_default == []


def test_no_ref_has_sibling_constraints(document: dict[str, Any]) -> None:
    # In 3.1 a `$ref` may have siblings, but generators ignore them: an `enum` beside a `$ref`
    # restricted nothing in the generated client.
    allowed = {"$ref", "description", "title", "default"}
    found = [
        node
        for node in walk(document)
        if isinstance(node, dict) and "$ref" in node and set(node) - allowed
    ]

    assert found == []


def test_problem_is_what_every_problem_answer_carries(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    issue = resolved(document, problem["properties"]["errors"]["items"])

    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["errors"]["type"] == "array"
    assert set(issue["required"]) == set(issue["properties"]) == {"loc", "msg", "type"}


def test_problem_type_is_a_closed_list_that_includes_every_documented_example(
    document: dict[str, Any],
) -> None:
    enum = set(document["components"]["schemas"]["Problem"]["properties"]["type"]["enum"])
    documented = {
        media["example"]["type"]
        for _, _, operation in operations(document)
        for answer in operation["responses"].values()
        for media_type, media in answer.get("content", {}).items()
        if media_type == "application/problem+json"
    }

    assert documented <= enum
    assert "urn:scheduling-service:problem:method-not-allowed" in enum


def test_an_application_is_created_only_in_a_creatable_status_optionally(
    document: dict[str, Any],
) -> None:
    create = document["components"]["schemas"]["ApplicationCreate"]
    status = resolved(document, create["properties"]["status"])

    assert "status" not in create["required"]
    assert set(status["enum"]) == {s.value for s in CreatableStatus}
    assert not {"first_round_scheduled", "second_round_scheduled"} & set(status["enum"])


def test_a_history_entry_carries_a_typed_interview(document: dict[str, Any]) -> None:
    entry = document["components"]["schemas"]["HistoryEntry"]
    options = entry["properties"]["interview"]["anyOf"]

    assert {"$ref": "#/components/schemas/Interview"} in options
    assert {"type": "null"} in options


def test_the_webhook_answer_always_carries_both_ids(document: dict[str, Any]) -> None:
    answer = document["components"]["schemas"]["WebhookAnswer"]

    assert {"application_id", "orphaned_interview_id"} <= set(answer["required"])


# --- The document as client generators and linters read it --------------------------------


def test_public_operations_say_so_and_every_other_needs_the_token(
    document: dict[str, Any],
) -> None:
    security = {f"{method} {path}": op.get("security") for method, path, op in operations(document)}

    assert security == {
        name: [{"HTTPBearer": []}] if name.split(" ")[1].startswith("/v1/") else []
        for name in security
    }


def test_the_document_names_its_servers_contact_and_license(document: dict[str, Any]) -> None:
    assert document["servers"]
    assert document["info"]["contact"]["name"]
    assert document["info"]["license"]["identifier"] == "MIT"


def test_every_operation_has_one_declared_tag(document: dict[str, Any]) -> None:
    declared = {tag["name"]: tag.get("description") for tag in document["tags"]}
    used = {f"{method} {path}": op.get("tags", []) for method, path, op in operations(document)}

    assert all(len(tags) == 1 and tags[0] in declared for tags in used.values()), used
    assert all(declared.values()), declared
    assert {tags[0] for tags in used.values()} == set(declared)


def test_only_the_calcom_receiver_is_left_out_of_spa_clients(document: dict[str, Any]) -> None:
    internal = [
        f"{method} {path}" for method, path, op in operations(document) if op.get("x-internal")
    ]
    receiver = document["paths"]["/webhooks/calcom/{cohort_id}"]["post"]

    assert internal == ["POST /webhooks/calcom/{cohort_id}"]
    assert receiver["tags"] == ["calcom"]


def test_schema_names_are_a_clients_not_the_servers(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    server_like = [
        name
        for name in names
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) or name.endswith(("Out", "View"))
    ]

    assert server_like == []
    assert {
        "Application",
        "ApplicationPage",
        "Cohort",
        "Organization",
        "OrphanedInterview",
        "OrphanedInterviewPage",
        "HistoryEntry",
        "WebhookEvent",
        "Problem",
    } <= names


def test_every_operation_says_who_may_call_it_and_why_it_refuses(
    document: dict[str, Any],
) -> None:
    # Each problem particular to an operation is explained in its description; the generic
    # ones (401, 413, 414, 415, 422, 503) by their answer's own description.
    unexplained = {
        f"{method} {path}": [
            status
            for status in op["responses"]
            if status in ("403", "404", "409") and status not in op.get("description", "")
        ]
        for method, path, op in operations(document)
    }
    without = [
        f"{method} {path}"
        for method, path, op in operations(document)
        if len(op.get("description", "")) < 80
    ]

    assert without == []
    assert unexplained == {name: [] for name in unexplained}
