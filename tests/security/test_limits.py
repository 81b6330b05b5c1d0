"""Resource limits: oversized or hostile input gets a clear 4xx problem before any work."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient

from scheduling_service.calcom.signature import sign
from scheduling_service.limits import MAX_QUERY_STRING_BYTES
from tests.calcom_bodies import booking, encode
from tests.conftest import Tokens
from tests.factories import assert_problem, create_cohort, create_org

API_LIMIT = 64 * 1024


def organization_body(size: int) -> bytes:
    """A valid organization, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"name": "Padded", "admin_emails": []}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def post_organization(
    client: AsyncClient, tokens: Tokens, content: bytes | AsyncIterator[bytes]
) -> Any:
    return await client.post(
        "/v1/organizations",
        content=content,
        headers={**tokens("system_admin"), "Content-Type": "application/json"},
    )


async def test_body_at_the_limit_is_accepted(client: AsyncClient, tokens: Tokens) -> None:
    response = await post_organization(client, tokens, organization_body(API_LIMIT))

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Padded"


async def test_body_one_byte_over_the_limit_is_refused(client: AsyncClient, tokens: Tokens) -> None:
    response = await post_organization(client, tokens, organization_body(API_LIMIT + 1))

    problem = assert_problem(response, 413, "payload-too-large")
    assert str(API_LIMIT) in problem["detail"]


async def test_chunked_body_without_length_is_capped_too(
    client: AsyncClient, tokens: Tokens
) -> None:
    async def endless_padding() -> AsyncIterator[bytes]:
        yield b'{"name": "Chunked", "admin_emails": []'
        for _ in range(100):  # 1.6 MB, well past the limit, if it were all read
            yield b" " * 16 * 1024
        yield b"}"

    response = await post_organization(client, tokens, endless_padding())

    assert_problem(response, 413, "payload-too-large")


async def test_declared_length_over_the_limit_is_refused_on_any_route(
    client: AsyncClient, tokens: Tokens
) -> None:
    # A GET never reads its body; the declared length alone is refused.
    response = await client.request(
        "GET",
        "/v1/organizations/00000000-0000-0000-0000-000000000000",
        content=b"x" * (API_LIMIT + 1),
        headers=tokens("system_admin"),
    )

    assert_problem(response, 413, "payload-too-large")


async def test_webhook_keeps_its_own_larger_limit(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    document = booking(uid="uid-large", email="walk-in@example.com")
    document["payload"]["description"] = "x" * (4 * API_LIMIT)
    raw = encode(document)

    response = await client.post(
        f"/webhooks/calcom/{cohort['id']}",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(raw, cohort["webhook_secret"]),
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "orphaned"


@pytest.mark.parametrize(
    ("size", "status"), [(MAX_QUERY_STRING_BYTES, 200), (MAX_QUERY_STRING_BYTES + 1, 414)]
)
async def test_query_string_over_8_kib_is_refused(
    client: AsyncClient, tokens: Tokens, size: int, status: int
) -> None:
    org = await create_org(client, tokens)
    query = "limit=5&pad=" + "x" * (size - len("limit=5&pad="))

    response = await client.get(
        f"/v1/organizations/{org['id']}/cohorts?{query}", headers=tokens("admin", org["id"])
    )

    if status == 414:
        assert_problem(response, 414, "uri-too-long")
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff\xfe", "admin_emails": []}',
        b"[" * 30_000 + b"]" * 30_000,
        b'{"name": ' + b'{"a": ' * 8_000 + b"1" + b"}" * 8_001,
    ],
    ids=["not UTF-8", "arrays nested 30,000 deep", "objects nested 8,000 deep"],
)
async def test_body_that_cannot_be_decoded_is_a_validation_problem(
    client: AsyncClient, tokens: Tokens, body: bytes
) -> None:
    response = await post_organization(client, tokens, body)

    assert_problem(response, 422, "validation-error")
