"""Bearer-token attacks (SPEC section 6): each is refused with 401 and changes nothing.

Every attack sends the request a real admin would send to rename their organization; the
positive controls send it with an honest token and see it succeed, so a refusal below is the
token's doing and nothing else.
"""

import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx import AsyncClient
from jwt.algorithms import RSAAlgorithm

from scheduling_service.config import Settings
from tests.conftest import JWT_SECRET, Tokens
from tests.factories import assert_problem
from tests.security.conftest import Jwks, hs256, serve, unsigned

# Attackers pick short keys on purpose (an empty one, a test secret used with HS512).
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

MISSING = object()
AUDIENCE = "scheduling-service"
ISSUER = "https://idp.example.org/"


def claims(organization: str, **changes: Any) -> dict[str, Any]:
    """An organization admin's claims; `name=MISSING` drops a claim."""
    now = int(time.time())
    document: dict[str, Any] = {
        "sub": "mallory",
        "role": "admin",
        "org_id": organization,
        "iat": now,
        "exp": now + 600,
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not MISSING}


def hs(organization: str, key: str = JWT_SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    return jwt.encode(claims(organization, **changes), key, algorithm=algorithm)


ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def rename(client: AsyncClient, org_id: str, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await client.patch(
        f"/v1/organizations/{org_id}", json={"name": "Pwned"}, headers=headers
    )


async def assert_refused_and_unchanged(
    client: AsyncClient, response: Any, org_id: str, reader: dict[str, str]
) -> None:
    problem = assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Pwned" not in json.dumps(problem)
    seen = await client.get(f"/v1/organizations/{org_id}", headers=reader)
    assert seen.json()["name"] == "Victim Org"


async def victim_org(client: AsyncClient, system: dict[str, str]) -> str:
    response = await client.post(
        "/v1/organizations", json={"name": "Victim Org", "admin_emails": []}, headers=system
    )
    assert response.status_code == 201, response.text
    org_id: str = response.json()["id"]
    return org_id


# --- With a shared secret (JWT_SECRET), the test configuration --------------------------------

Header = Callable[[str], str | None]
"""The Authorization header an attacker sends, given the organization they target."""


def bearer(token: Callable[[str], str]) -> Header:
    return lambda org_id: f"Bearer {token(org_id)}"


def tampered(org_id: str) -> str:
    """An honest token whose claims were swapped for a system admin's, signature kept."""
    header, _, signature = hs(org_id).split(".")
    forged = jwt.encode(claims(org_id, role="system_admin"), "x" * 32).split(".")[1]
    return f"{header}.{forged}.{signature}"


SHARED_SECRET_ATTACKS: dict[str, Header] = {
    "no header": lambda _: None,
    "empty bearer": lambda _: "Bearer ",
    "scheme only": lambda _: "Bearer",
    "valid token, no scheme": lambda org: hs(org),
    "valid token, Basic scheme": lambda org: f"Basic {hs(org)}",
    "valid token, Token scheme": lambda org: f"Token {hs(org)}",
    "garbage": lambda _: "Bearer not-a-jwt",
    "three garbage segments": lambda _: "Bearer a.b.c",
    "two segments": bearer(lambda org: hs(org).rsplit(".", 1)[0]),
    "long garbage": lambda _: "Bearer " + "A" * 8000,
    "alg none": bearer(lambda org: unsigned({"alg": "none", "typ": "JWT"}, claims(org))),
    "alg None": bearer(lambda org: unsigned({"alg": "None", "typ": "JWT"}, claims(org))),
    "alg NONE": bearer(lambda org: unsigned({"alg": "NONE"}, claims(org))),
    "alg none with a signature": bearer(
        lambda org: unsigned({"alg": "none"}, claims(org)) + hs(org).split(".")[2]
    ),
    "no alg": bearer(lambda org: hs256({"typ": "JWT"}, claims(org), JWT_SECRET.encode())),
    "signed with another secret": bearer(lambda org: hs(org, key="guessed-" + "x" * 32)),
    "signed with an empty secret": bearer(lambda org: hs256({"alg": "HS256"}, claims(org), b"")),
    "HS512, an algorithm not configured": bearer(lambda org: hs(org, algorithm="HS512")),
    "RS256 with the attacker's key, no JWKS configured": bearer(
        lambda org: jwt.encode(claims(org), ATTACKER_KEY, algorithm="RS256")
    ),
    "claims tampered after signing": bearer(tampered),
    "expired": bearer(lambda org: hs(org, exp=int(time.time()) - 60)),
    "not yet valid (nbf)": bearer(lambda org: hs(org, nbf=int(time.time()) + 3600)),
    "issued in the future (iat)": bearer(lambda org: hs(org, iat=int(time.time()) + 3600)),
    "no exp": bearer(lambda org: hs(org, exp=MISSING)),
    "exp not a number": bearer(
        lambda org: hs256({"alg": "HS256"}, claims(org, exp="never"), JWT_SECRET.encode())
    ),
    "no sub": bearer(lambda org: hs(org, sub=MISSING)),
    "empty sub": bearer(lambda org: hs(org, sub="")),
    "sub not a string": bearer(
        lambda org: hs256({"alg": "HS256"}, claims(org, sub=42), JWT_SECRET.encode())
    ),
    "no role": bearer(lambda org: hs(org, role=MISSING)),
    "unknown role": bearer(lambda org: hs(org, role="superuser")),
    "role in another case": bearer(lambda org: hs(org, role="Admin")),
    "system_admin role in capitals": bearer(lambda org: hs(org, role="SYSTEM_ADMIN")),
    "role as a list": bearer(lambda org: hs(org, role=["admin"])),
    "admin without org_id": bearer(lambda org: hs(org, org_id=MISSING)),
    "org_id not a UUID": bearer(lambda org: hs(org, org_id="acme")),
    "org_id injection": bearer(lambda org: hs(org, org_id=f"{org}' OR '1'='1")),
    "org_id as a number": bearer(lambda org: hs(org, org_id=12345)),
}


@pytest.mark.parametrize("attack", SHARED_SECRET_ATTACKS, ids=list(SHARED_SECRET_ATTACKS))
async def test_token_attack_is_refused_and_changes_nothing(
    client: AsyncClient, tokens: Tokens, attack: str
) -> None:
    org_id = await victim_org(client, tokens("system_admin"))

    response = await rename(client, org_id, SHARED_SECRET_ATTACKS[attack](org_id))

    await assert_refused_and_unchanged(client, response, org_id, tokens("system_admin"))


async def test_token_in_the_query_string_is_not_read(client: AsyncClient, tokens: Tokens) -> None:
    org_id = await victim_org(client, tokens("system_admin"))

    response = await client.patch(
        f"/v1/organizations/{org_id}", params={"access_token": hs(org_id)}, json={"name": "Pwned"}
    )

    await assert_refused_and_unchanged(client, response, org_id, tokens("system_admin"))


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_honest_token_renames_the_organization(
    client: AsyncClient, tokens: Tokens, scheme: str
) -> None:
    org_id = await victim_org(client, tokens("system_admin"))

    response = await rename(client, org_id, f"{scheme} {hs(org_id)}")

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Pwned"


# --- With JWT_AUDIENCE and JWT_ISSUER configured ---------------------------------------------

AUDIENCE_ATTACKS: dict[str, dict[str, Any]] = {
    "no aud": {"aud": MISSING},
    "another aud": {"aud": "another-service"},
    "aud list without ours": {"aud": ["another-service", "third-service"]},
    "aud in another case": {"aud": AUDIENCE.upper()},
    "no iss": {"iss": MISSING},
    "another iss": {"iss": "https://evil.example.org/"},
    "iss without its trailing slash": {"iss": ISSUER.rstrip("/")},
}


@pytest.fixture
def audience_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jwt_audience": AUDIENCE, "jwt_issuer": ISSUER})


@pytest.mark.parametrize("attack", AUDIENCE_ATTACKS, ids=list(AUDIENCE_ATTACKS))
async def test_token_for_another_audience_or_issuer_is_refused(
    audience_settings: Settings, database_url: str, attack: str
) -> None:
    system = {"Authorization": f"Bearer {jwt.encode(sysadmin(), JWT_SECRET)}"}
    async with serve(audience_settings, database_url) as client:
        org_id = await victim_org(client, system)
        token = hs(org_id, **{"aud": AUDIENCE, "iss": ISSUER, **AUDIENCE_ATTACKS[attack]})

        response = await rename(client, org_id, f"Bearer {token}")

        await assert_refused_and_unchanged(client, response, org_id, system)


def sysadmin(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "operator",
        "role": "system_admin",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "exp": now + 600,
        **changes,
    }


@pytest.mark.parametrize(
    "audience", [AUDIENCE, ["another-service", AUDIENCE]], ids=["one", "a list holding ours"]
)
async def test_token_for_our_audience_and_issuer_is_accepted(
    audience_settings: Settings, database_url: str, audience: str | list[str]
) -> None:
    system = {"Authorization": f"Bearer {jwt.encode(sysadmin(), JWT_SECRET)}"}
    async with serve(audience_settings, database_url) as client:
        org_id = await victim_org(client, system)

        response = await rename(client, org_id, f"Bearer {hs(org_id, aud=audience, iss=ISSUER)}")

        assert response.status_code == 200, response.text


# --- With a JWKS URL: RS256 keys from an identity provider ------------------------------------


def rs(
    jwks: Jwks,
    organization: str,
    key: Any = None,
    header: dict[str, Any] | None = None,
    **changes: Any,
) -> str:
    """A token signed with the provider's key (or `key`), naming the provider's key ID."""
    return jwt.encode(
        claims(organization, **changes),
        key or jwks.private_key,
        algorithm="RS256",
        headers={"kid": jwks.kid} if header is None else header,
    )


def public_pem(jwks: Jwks) -> bytes:
    return jwks.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


JwksToken = Callable[[Jwks, str], str]

JWKS_ATTACKS: dict[str, JwksToken] = {
    # Algorithm confusion: the public key, which anyone can fetch, used as an HMAC secret.
    "HS256 keyed with the JWKS public key (PEM)": lambda k, org: hs256(
        {"alg": "HS256", "kid": k.kid}, claims(org), public_pem(k)
    ),
    "HS256 keyed with the JWKS document": lambda k, org: hs256(
        {"alg": "HS256", "kid": k.kid}, claims(org), json.dumps(k.document).encode()
    ),
    "HS256 keyed with the JWK": lambda k, org: hs256(
        {"alg": "HS256", "kid": k.kid}, claims(org), json.dumps(k.document["keys"][0]).encode()
    ),
    "RS256 by the attacker's key under the provider's kid": lambda k, org: rs(
        k, org, key=ATTACKER_KEY
    ),
    "RS256 by the attacker's key, unknown kid": lambda k, org: rs(
        k, org, key=ATTACKER_KEY, header={"kid": "attacker"}
    ),
    "RS256 by the attacker's key, embedded as jwk": lambda k, org: rs(
        k,
        org,
        key=ATTACKER_KEY,
        header={"jwk": json.loads(RSAAlgorithm.to_jwk(ATTACKER_KEY.public_key()))},
    ),
    "RS256 by the attacker's key, jku to the attacker": lambda k, org: rs(
        k, org, key=ATTACKER_KEY, header={"kid": k.kid, "jku": "http://127.0.0.1:9/jwks.json"}
    ),
    "RS256 without kid": lambda k, org: rs(k, org, header={}),
    "RS512 by the provider's key, an algorithm not configured": lambda k, org: jwt.encode(
        claims(org), k.private_key, algorithm="RS512", headers={"kid": k.kid}
    ),
    "alg none under the provider's kid": lambda k, org: unsigned(
        {"alg": "none", "kid": k.kid}, claims(org)
    ),
    "expired, by the provider's key": lambda k, org: rs(k, org, exp=int(time.time()) - 60),
}


@pytest.fixture(params=["jwks only", "jwks and a shared secret"])
def jwks_settings(request: pytest.FixtureRequest, settings: Settings, jwks: Jwks) -> Settings:
    if request.param == "jwks only":
        return settings.model_copy(
            update={"jwt_jwks_url": jwks.url, "jwt_secret": None, "jwt_algorithms": ["RS256"]}
        )
    return settings.model_copy(update={"jwt_jwks_url": jwks.url})


@pytest.mark.parametrize("attack", JWKS_ATTACKS, ids=list(JWKS_ATTACKS))
async def test_jwks_token_attack_is_refused_and_changes_nothing(
    jwks_settings: Settings, database_url: str, jwks: Jwks, attack: str
) -> None:
    system = {"Authorization": f"Bearer {rs(jwks, '', role='system_admin', org_id=MISSING)}"}
    async with serve(jwks_settings, database_url) as client:
        org_id = await victim_org(client, system)

        response = await rename(client, org_id, f"Bearer {JWKS_ATTACKS[attack](jwks, org_id)}")

        await assert_refused_and_unchanged(client, response, org_id, system)


async def test_token_signed_by_the_jwks_key_is_accepted(
    jwks_settings: Settings, database_url: str, jwks: Jwks
) -> None:
    system = {"Authorization": f"Bearer {rs(jwks, '', role='system_admin', org_id=MISSING)}"}
    async with serve(jwks_settings, database_url) as client:
        org_id = await victim_org(client, system)

        response = await rename(client, org_id, f"Bearer {rs(jwks, org_id)}")

        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Pwned"


async def test_unknown_key_ids_do_not_make_the_service_refetch_the_jwks_each_time(
    jwks_settings: Settings, database_url: str, jwks: Jwks
) -> None:
    async with serve(jwks_settings, database_url) as client:
        org_id = str(uuid.uuid4())
        answers = [
            (
                await rename(
                    client,
                    org_id,
                    f"Bearer {rs(jwks, org_id, key=ATTACKER_KEY, header={'kid': f'k{n}'})}",
                )
            ).status_code
            for n in range(20)
        ]

    assert answers == [401] * 20
    # One fetch for the first token, at most one refresh after it (PyJWT's refetch cooldown).
    assert 1 <= len(jwks.fetches) <= 2, jwks.fetches


async def test_unreachable_jwks_answers_503_not_401(settings: Settings, database_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = settings.model_copy(
        update={"jwt_jwks_url": f"http://127.0.0.1:{closed_port}/jwks.json"}
    )
    token = jwt.encode(claims(str(uuid.uuid4())), ATTACKER_KEY, "RS256", headers={"kid": "k"})
    async with serve(unreachable, database_url) as client:
        response = await client.get(
            "/v1/organizations/" + str(uuid.uuid4()), headers={"Authorization": f"Bearer {token}"}
        )

    # The token may be perfectly good: a 401 would tell the client to throw it away.
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"]
