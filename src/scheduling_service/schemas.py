"""API types shared by every part of the REST API."""

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, StringConstraints

T = TypeVar("T")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a 422, not a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_nul)]
Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(str.lower)]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
