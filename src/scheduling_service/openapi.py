"""The OpenAPI document as client generators read it.

FastAPI's document describes the server's models; these passes make it say exactly what the
wire carries and what a client may send, in the terms a client author would use.
"""

from typing import Any

_REF_PREFIX = "#/components/schemas/"


def optional_request_fields_have_no_default(document: dict[str, Any]) -> None:
    """A request property the client may leave out is optional, nothing more.

    Generators read a `default` as "always present" (openapi-typescript makes the property
    required), so a field the server fills in when it is missing is described in words only.
    """
    schemas = document.get("components", {}).get("schemas", {})
    for name in _request_schema_names(document, schemas):
        schema = schemas[name]
        required = set(schema.get("required", []))
        for field, prop in schema.get("properties", {}).items():
            if field not in required:
                prop.pop("default", None)


def _request_schema_names(document: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    pending = [
        media.get("schema", {})
        for item in document.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    names: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                name = ref.removeprefix(_REF_PREFIX)
                if name not in names:
                    names.add(name)
                    pending.append(schemas[name])
            pending.extend(v for k, v in node.items() if k not in ("examples", "example"))
    return names
