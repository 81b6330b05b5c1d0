"""API types shared by every part of the REST API."""

from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

T = TypeVar("T")


def is_storable(value: str) -> bool:
    """Whether PostgreSQL text can hold `value`: no NUL, and encodable as UTF-8 (JSON's
    escapes can smuggle in lone surrogates, which cannot be)."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _storable(value: str) -> str:
    # Refused here, such text is a 422 rather than a database error.
    if not is_storable(value):
        raise ValueError("must not contain NUL characters or lone surrogates")
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_storable),
]
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_storable)]
Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(str.lower)]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


def examples(*documents: dict[str, Any]) -> ConfigDict:
    """A model's examples, for the OpenAPI document (merged into ApiModel's configuration)."""
    return ConfigDict(json_schema_extra={"examples": list(documents)})


_EXAMPLE_CURSOR = (
    "MjAyNi0wMS0wNVQwOTowMDowMCswMDowMHwwZjNlNWE4Yy0xYjJkLTRjNmUtOGY5YS0zZDViN2M5ZTFhMjA"
)


def restore_example_nulls(document: dict[str, Any]) -> None:
    """Put back the nulls FastAPI strips from an OpenAPI document's examples.

    FastAPI serializes the document with `exclude_none`, which also drops every null inside an
    example, so an example showing `"reason": null` would lack a required property. Each
    required, nullable property missing from an example was such a null.
    """
    schemas = document.get("components", {}).get("schemas", {})

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def nullable(schema: dict[str, Any]) -> bool:
        schema = resolve(schema)
        return any(option.get("type") == "null" for option in schema.get("anyOf", []))

    def restore(example: Any, schema: dict[str, Any]) -> None:
        schema = resolve(schema)
        for option in schema.get("anyOf", []):
            if option.get("type") != "null":
                restore(example, option)
        if isinstance(example, list) and "items" in schema:
            for item in example:
                restore(item, schema["items"])
        if isinstance(example, dict) and "properties" in schema:
            properties = schema["properties"]
            for name in schema.get("required", []):
                if name not in example and nullable(properties[name]):
                    example[name] = None
            for name, value in example.items():
                if name in properties:
                    restore(value, properties[name])

    for schema in schemas.values():
        for example in schema.get("examples", []):
            restore(example, schema)


def _page_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    # Each Page[T] shows a page holding T's first example, so it is as precise as T's own.
    (item,) = get_args(model.model_fields["items"].annotation)
    extra = item.model_config.get("json_schema_extra") if issubclass(item, BaseModel) else None
    found = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(found, list) and found:
        schema["examples"] = [{"items": [found[0]], "next_cursor": _EXAMPLE_CURSOR}]


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(json_schema_extra=_page_example)

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
