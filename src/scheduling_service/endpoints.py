"""The list of endpoints, a Markdown table made from the OpenAPI document: `scheduling-service
endpoints` prints it, `make endpoints` writes it into the README (a test checks they agree)."""

from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")


def endpoint_table(document: dict[str, Any]) -> str:
    """One row per operation, in the document's order: method, path, summary."""
    rows = ["| method | path | what it does |", "|---|---|---|"]
    for path, operations in document["paths"].items():
        for method in _METHODS:
            if method in operations:
                summary = operations[method].get("summary", "").replace("|", "\\|")
                rows.append(f"| `{method.upper()}` | `{path}` | {summary} |")
    return "\n".join(rows) + "\n"
