"""API types shared by every part of the REST API."""

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, StringConstraints

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


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_storable),
]
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_storable)]
Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(str.lower)]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
