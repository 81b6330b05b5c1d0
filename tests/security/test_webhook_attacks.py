"""Attacks on the Cal.com webhook (SPEC section 3): refused, never a 5xx, nothing changed.

Each attack targets a cohort with an applicant waiting for the first round; the delivery is the
booking that would schedule her. The controls deliver it honestly and see her scheduled.
"""

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient, Response

from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import booking, encode
from tests.conftest import Tokens
from tests.factories import assert_problem, create_application, create_cohort, create_org

Json = dict[str, Any]
BODY = encode(booking(uid="uid-attack", email="jane.doe@example.com"))
ONE_MIB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    cohort: Json
    other_cohort: Json
    application: Json
    admin: dict[str, str]

    @property
    def url(self) -> str:
        return f"/webhooks/calcom/{self.cohort['id']}"


@pytest.fixture
async def target(client: AsyncClient, tokens: Tokens) -> Target:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    other = await create_cohort(client, tokens, org["id"], name="Other cohort")
    application = await create_application(client, tokens, cohort)
    return Target(cohort, other, application, tokens("admin", org["id"]))


async def state(client: AsyncClient, target: Target) -> Json:
    """What an admin sees of the cohort: the application, the event log, the orphans."""
    cohort = target.cohort["id"]
    paths = {
        "application": f"/v1/applications/{target.application['id']}",
        "events": f"/v1/cohorts/{cohort}/webhook-events",
        "orphans": f"/v1/cohorts/{cohort}/orphaned-interviews/count",
    }
    seen = {}
    for name, path in paths.items():
        response = await client.get(path, headers=target.admin)
        assert response.status_code == 200, response.text
        seen[name] = response.json()
    return seen


async def post(
    client: AsyncClient,
    url: str,
    content: bytes | AsyncIterator[bytes],
    signature: str | bytes | None,
    content_type: str | None = "application/json",
) -> Response:
    headers: dict[str, str | bytes] = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if signature is not None:
        headers["X-Cal-Signature-256"] = signature
    return await client.post(url, content=content, headers=headers)


def secret_of(target: Target) -> str:
    secret: str = target.cohort["webhook_secret"]
    return secret


# What an attacker puts in X-Cal-Signature-256 for BODY, knowing everything but the secret.
SIGNATURES: dict[str, Callable[[Target], str | bytes | None]] = {
    "missing": lambda _: None,
    "empty": lambda _: "",
    "zeros": lambda _: "0" * 64,
    "no-secret-provided": lambda _: "no-secret-provided",
    "truncated by one digit": lambda t: sign(BODY, secret_of(t))[:-1],
    "truncated to half": lambda t: sign(BODY, secret_of(t))[:32],
    "upper-cased": lambda t: sign(BODY, secret_of(t)).upper(),
    "prefixed sha256=": lambda t: "sha256=" + sign(BODY, secret_of(t)),
    "base64 instead of hex": lambda t: base64.b64encode(
        hmac.new(secret_of(t).encode(), BODY, hashlib.sha256).digest()
    ).decode(),
    "twice the signature": lambda t: sign(BODY, secret_of(t)) * 2,
    "another cohort's secret": lambda t: sign(BODY, t.other_cohort["webhook_secret"]),
    "keyed with the empty secret": lambda _: sign(BODY, ""),
    "SHA-1 HMAC": lambda t: hmac.new(secret_of(t).encode(), BODY, hashlib.sha1).hexdigest(),
    "plain SHA-256 of the body": lambda _: hashlib.sha256(BODY).hexdigest(),
    "not latin-1 text": lambda _: "é".encode() * 32,
}


@pytest.mark.parametrize("attack", SIGNATURES, ids=list(SIGNATURES))
async def test_badly_signed_delivery_is_refused_and_changes_nothing(
    client: AsyncClient, target: Target, attack: str
) -> None:
    before = await state(client, target)

    response = await post(client, target.url, BODY, SIGNATURES[attack](target))

    assert_problem(response, 401, "invalid-signature")
    assert await state(client, target) == before


# Valid signatures over bytes the server does not receive.
CHANGED_BODIES: dict[str, Callable[[bytes], bytes]] = {
    "email changed": lambda body: body.replace(b"jane.doe@example.com", b"evil@example.com"),
    "trailing newline": lambda body: body + b"\n",
    "reformatted": lambda body: body.replace(b'":', b'": '),
    "truncated": lambda body: body[:-1],
}


@pytest.mark.parametrize("change", CHANGED_BODIES, ids=list(CHANGED_BODIES))
async def test_signature_over_another_body_is_refused(
    client: AsyncClient, target: Target, change: str
) -> None:
    before = await state(client, target)

    response = await post(
        client, target.url, CHANGED_BODIES[change](BODY), sign(BODY, secret_of(target))
    )

    assert_problem(response, 401, "invalid-signature")
    assert await state(client, target) == before


async def test_delivery_replayed_to_another_cohort_is_refused(
    client: AsyncClient, target: Target
) -> None:
    before = await state(client, target)

    response = await post(
        client,
        f"/webhooks/calcom/{target.other_cohort['id']}",
        BODY,
        sign(BODY, secret_of(target)),
    )

    assert_problem(response, 401, "invalid-signature")
    assert await state(client, target) == before


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "application/json-patch+json",
        "json",
    ],
)
async def test_any_content_type_is_verified_before_its_body_is_judged(
    client: AsyncClient, target: Target, content_type: str | None
) -> None:
    # Cal.com signs a custom payload template's body whatever it is (issue 12 item 3).
    before = await state(client, target)

    forged = await post(client, target.url, BODY, "0" * 64, content_type)

    assert_problem(forged, 401, "invalid-signature")
    assert await state(client, target) == before
    signed = await post(client, target.url, BODY, sign(BODY, secret_of(target)), content_type)
    assert signed.status_code == 200, signed.text
    assert signed.json()["outcome"] == "matched"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_honest_delivery_schedules_the_applicant(
    client: AsyncClient, target: Target, content_type: str
) -> None:
    response = await post(client, target.url, BODY, sign(BODY, secret_of(target)), content_type)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "matched"
    seen = await state(client, target)
    assert seen["application"]["status"] == "first_round_scheduled"


def oversized() -> bytes:
    document = booking(uid="uid-big", email="jane.doe@example.com")
    document["payload"]["description"] = "x" * ONE_MIB
    return encode(document)


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_body_over_one_mebibyte_is_refused_even_when_authentic(
    client: AsyncClient, target: Target, framing: str
) -> None:
    body = oversized()
    before = await state(client, target)

    content = body if framing == "content-length" else chunks(body)
    response = await post(client, target.url, content, sign(body, secret_of(target)))

    assert_problem(response, 413, "payload-too-large")
    assert await state(client, target) == before


def nested(depth: int, opening: bytes, closing: bytes) -> bytes:
    return opening * depth + b"1" + closing * depth


# Authentic deliveries no JSON parser should be made to choke on.
HOSTILE_JSON: dict[str, bytes] = {
    "arrays nested 100,000 deep": nested(100_000, b"[", b"]"),
    "objects nested 100,000 deep": nested(100_000, b'{"a":', b"}"),
    "payload nested 100,000 deep": b'{"triggerEvent":"BOOKING_CREATED","payload":'
    + nested(100_000, b"[", b"]")
    + b"}",
    "an integer of 5,000 digits": b'{"triggerEvent":"BOOKING_CREATED","payload":'
    + b"9" * 5000
    + b"}",
    "not UTF-8": b'{"triggerEvent":"\xff\xfe"}',
}


@pytest.mark.parametrize("body", HOSTILE_JSON, ids=list(HOSTILE_JSON))
async def test_hostile_json_is_refused_as_not_json_and_kept_as_rejected(
    client: AsyncClient, target: Target, body: str
) -> None:
    raw = HOSTILE_JSON[body]
    before = await state(client, target)

    response = await post(client, target.url, raw, sign(raw, secret_of(target)))

    assert_problem(response, 400, "malformed-webhook")
    after = await state(client, target)
    assert after["application"] == before["application"]
    assert after["orphans"] == before["orphans"]
    [logged] = after["events"]["items"]
    assert logged["outcome"] == "rejected"
    assert logged["reason"].startswith("the body is not JSON"), logged["reason"]


async def test_deep_but_parsable_json_in_a_lenient_field_is_applied(
    client: AsyncClient, target: Target
) -> None:
    # 500 levels parse; the service reads only the fields it needs and keeps the body as sent.
    document = booking(uid="uid-deep", email="jane.doe@example.com")
    document["payload"]["customInputs"] = {"deep": "PLACEHOLDER"}
    raw = encode(document).replace(b'"PLACEHOLDER"', nested(500, b"[", b"]"))

    response = await post(client, target.url, raw, sign(raw, secret_of(target)))

    assert response.status_code == 200, response.text
    seen = await state(client, target)
    assert seen["application"]["status"] == "first_round_scheduled"
    assert seen["events"]["items"][0]["body"] == raw.decode()
