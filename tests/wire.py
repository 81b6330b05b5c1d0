"""What every answer on the wire must be, whatever the test: checked on each answer the
`client` fixture receives, so routes and problems added later are held to it too."""

import json
import re
from typing import Any

from httpx import Response
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A string that starts like an ISO 8601 date and time: the API sends those in UTC, with `Z`.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of `schema`, whose `$ref`s point into `document`'s components."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    rooted = json.loads(json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/'))
    return Draft202012Validator(
        rooted, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def times_not_in_utc(value: Any, where: str = "") -> list[str]:
    if isinstance(value, dict):
        return [bad for k, v in value.items() for bad in times_not_in_utc(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [bad for i, v in enumerate(value) for bad in times_not_in_utc(v, f"{where}[{i}]")]
    if isinstance(value, str) and _TIMESTAMP.match(value) and not value.endswith("Z"):
        return [f"{where}: {value}"]
    return []


class WireChecks:
    def __init__(self, document: dict[str, Any]) -> None:
        self.problem = schema_validator(document, {"$ref": "#/components/schemas/Problem"})

    async def __call__(self, response: Response) -> None:
        media_type = response.headers.get("content-type", "").split(";")[0]
        if "json" not in media_type or response.request.url.path == "/openapi.json":
            return
        await response.aread()
        body = response.json()
        assert times_not_in_utc(body) == [], f"{response.request.url}: times without Z"
        if media_type == PROBLEM_MEDIA_TYPE:
            errors = [e.message for e in self.problem.iter_errors(body)]
            assert errors == [], f"{response.request.url}: not a documented problem: {errors}"
