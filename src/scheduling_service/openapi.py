"""The OpenAPI document as client generators read it.

FastAPI's document describes the server's models; these passes make it say exactly what the
wire carries and what a client may send, in the terms a client author would use.
"""

import re
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


# The server's model names carry suffixes that say how the server uses them; clients want
# the resource's name.
_SERVER_SUFFIXES = ("Out", "View")
_GENERIC_PAGE = re.compile(r"^Page_(\w+)_$")


def client_schema_name(name: str) -> str:
    """`ApplicationOut` -> `Application`, `Page_ApplicationOut_` -> `ApplicationPage`."""
    page = _GENERIC_PAGE.match(name)
    if page:
        return client_schema_name(page.group(1)) + "Page"
    for suffix in _SERVER_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix)
    return name


def rename_schemas_for_clients(document: dict[str, Any]) -> None:
    """Name every schema as a client author would, and every reference to it."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    names = {name: client_schema_name(name) for name in schemas}
    clashes = sorted(n for n in set(names.values()) if list(names.values()).count(n) > 1)
    if clashes:
        raise ValueError(f"two schemas would be named {', '.join(clashes)}")
    renamed = {}
    for name, schema in schemas.items():
        if names[name] != name and "title" in schema:
            schema["title"] = names[name]
        renamed[names[name]] = schema
    document["components"]["schemas"] = renamed

    def relink(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                node["$ref"] = _REF_PREFIX + names[ref.removeprefix(_REF_PREFIX)]
            for value in node.values():
                relink(value)
        elif isinstance(node, list):
            for value in node:
                relink(value)

    relink(document)
