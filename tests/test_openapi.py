import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from scheduling_service.app import create_app
from scheduling_service.config import Settings

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


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    rooted = json.loads(json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/'))
    return Draft202012Validator(
        rooted, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


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
    undocumented = {
        f"{method} {path}": sorted({"401", "403", "404", "422", "503"} - set(op["responses"]))
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
            errors = [e.message for e in validator(document, schema).iter_errors(example)]
            assert errors == [], f"{name}: {errors}"
            checked += 1
    for method, path, operation in operations(document):
        answers = [operation.get("requestBody", {}), *operation["responses"].values()]
        for answer in answers:
            for media in answer.get("content", {}).values():
                if "example" in media:
                    errors = [
                        e.message
                        for e in validator(document, media["schema"]).iter_errors(media["example"])
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
    assert "security" not in webhook
    assert {"triggerEvent", "createdAt", "payload"} <= set(body["schema"]["properties"])
    assert {"uid", "startTime", "endTime", "attendees"} <= set(
        body["schema"]["properties"]["payload"]["properties"]
    )
    assert body["example"]["triggerEvent"] == "BOOKING_CREATED"
    assert {"200", "400", "401", "404", "413", "415", "422", "503"} <= set(webhook["responses"])
