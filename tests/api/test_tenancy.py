"""Every /v1 route, tried across organizations and roles (SPEC sections 5 and 6)."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.conftest import Tokens
from tests.factories import PROBLEM_TYPE_PREFIX, Tenant, assert_problem, create_tenant

Body = Callable[[Tenant], dict[str, Any] | None]


def no_body(_: Tenant) -> None:
    return None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    needs: str
    """The least role that may call it: member, admin or system_admin."""
    success: int
    body: Body = no_body

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    async def call(
        self, client: AsyncClient, headers: dict[str, str], target: Tenant, ids: dict[str, str]
    ) -> Response:
        return await client.request(
            self.method, self.path.format(**ids), json=self.body(target), headers=headers
        )


# The table of SPEC section 5, in its order.
ROUTES = [
    Route(
        "POST",
        "/v1/organizations",
        "system_admin",
        201,
        lambda _: {"name": "New", "admin_emails": []},
    ),
    Route("GET", "/v1/organizations/{org}", "member", 200),
    Route("PATCH", "/v1/organizations/{org}", "admin", 200, lambda _: {"name": "Changed"}),
    Route(
        "POST", "/v1/organizations/{org}/cohorts", "system_admin", 201, lambda _: {"name": "Extra"}
    ),
    Route("GET", "/v1/organizations/{org}/cohorts", "member", 200),
    Route("GET", "/v1/cohorts/{cohort}", "member", 200),
    Route("POST", "/v1/cohorts/{cohort}/webhook-secret/rotate", "system_admin", 200),
    Route(
        "POST",
        "/v1/cohorts/{cohort}/applications",
        "admin",
        201,
        lambda _: {"applicant_name": "Intruder", "contact_email": "intruder@example.org"},
    ),
    Route("GET", "/v1/cohorts/{cohort}/applications", "member", 200),
    Route("GET", "/v1/applications/{application}", "member", 200),
    Route(
        "POST",
        "/v1/applications/{application}/status",
        "admin",
        200,
        lambda _: {"status": "under_review", "reason": "moved"},
    ),
    Route("GET", "/v1/applications/{application}/history", "member", 200),
    Route("GET", "/v1/cohorts/{cohort}/orphaned-interviews", "member", 200),
    Route("GET", "/v1/cohorts/{cohort}/orphaned-interviews/count", "member", 200),
    Route("GET", "/v1/orphaned-interviews/{orphan}", "member", 200),
    Route(
        "POST",
        "/v1/orphaned-interviews/{orphan}/match",
        "admin",
        200,
        lambda t: {"application_id": t.application["id"]},
    ),
    Route(
        "POST",
        "/v1/orphaned-interviews/{orphan}/dismiss",
        "admin",
        200,
        lambda _: {"reason": "spam"},
    ),
    Route("GET", "/v1/cohorts/{cohort}/webhook-events", "admin", 200),
    Route(
        "PUT",
        "/v1/cohorts/{cohort}/calcom-connection",
        "admin",
        200,
        lambda _: {"api_key": "cal_live_replacement"},
    ),
    Route("DELETE", "/v1/cohorts/{cohort}/calcom-connection", "admin", 204),
    # The tenant's Cal.com is unreachable: 424 is what the organization's own admin gets.
    Route("POST", "/v1/cohorts/{cohort}/reconcile", "admin", 424, lambda _: {"dry_run": True}),
    Route("POST", "/v1/webhook-events/{event}/replay", "admin", 200),
]
SCOPED = [r for r in ROUTES if "{" in r.path]
ADMIN_ONLY = [r for r in ROUTES if r.needs in ("admin", "system_admin")]
SYSTEM_ADMIN_ONLY = [r for r in ROUTES if r.needs == "system_admin"]


def route_params(routes: list[Route]) -> list[Any]:
    return [pytest.param(r, id=r.id) for r in routes]


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant


@pytest.fixture
async def world(client: AsyncClient, tokens: Tokens) -> World:
    return World(
        await create_tenant(client, tokens, "Alpha"), await create_tenant(client, tokens, "Beta")
    )


async def snapshot(client: AsyncClient, tokens: Tokens, tenant: Tenant) -> dict[str, Any]:
    """Everything of the tenant a system admin can read."""
    headers = tokens("system_admin")
    paths = [
        "/v1/organizations/{org}",
        "/v1/organizations/{org}/cohorts",
        "/v1/cohorts/{cohort}",
        "/v1/cohorts/{cohort}/applications",
        "/v1/applications/{application}",
        "/v1/applications/{application}/history",
        "/v1/cohorts/{cohort}/orphaned-interviews/count",
        "/v1/orphaned-interviews/{orphan}",
        "/v1/cohorts/{cohort}/webhook-events",
    ] + [
        f"/v1/cohorts/{{cohort}}/orphaned-interviews?state={state}"
        for state in ("open", "matched", "dismissed", "cancelled")
    ]
    state = {}
    for path in paths:
        response = await client.get(path.format(**tenant.ids()), headers=headers)
        state[path] = (response.status_code, response.json())
    return state


def missing_ids() -> dict[str, str]:
    return {key: str(uuid.uuid4()) for key in ("org", "cohort", "application", "orphan", "event")}


# Bodies for calls that never reach a resource.
MISSING = Tenant(
    org={}, cohort={}, application={"id": str(uuid.uuid4())}, orphan_id="", event_id=""
)


def token_for(tokens: Tokens, role: str, tenant: Tenant) -> dict[str, str]:
    return tokens("system_admin") if role == "system_admin" else tokens(role, tenant.org_id)


@pytest.mark.parametrize("route", route_params(SCOPED))
async def test_other_organizations_admin_gets_404_and_changes_nothing(
    client: AsyncClient, tokens: Tokens, world: World, route: Route
) -> None:
    intruder = tokens("admin", world.b.org_id, sub="beta-admin")
    before = await snapshot(client, tokens, world.a)

    response = await route.call(client, intruder, world.a, world.a.ids())

    assert_problem(response, 404, "not-found")
    assert await snapshot(client, tokens, world.a) == before
    # The same request is served to the organization's own people, so the 404 was tenancy.
    own = await route.call(client, token_for(tokens, route.needs, world.a), world.a, world.a.ids())
    assert own.status_code == route.success, own.text


@pytest.mark.parametrize("route", route_params(SCOPED))
async def test_other_organizations_resource_answers_exactly_like_a_missing_one(
    client: AsyncClient, tokens: Tokens, world: World, route: Route
) -> None:
    intruder = tokens("admin", world.b.org_id)

    foreign = await route.call(client, intruder, world.a, world.a.ids())
    missing = await route.call(client, intruder, world.a, missing_ids())

    assert assert_problem(foreign, 404) == assert_problem(missing, 404)
    assert foreign.headers["content-type"] == missing.headers["content-type"]


async def test_matching_own_orphan_to_other_organizations_application_is_404(
    client: AsyncClient, tokens: Tokens, world: World
) -> None:
    before_a = await snapshot(client, tokens, world.a)
    before_b = await snapshot(client, tokens, world.b)

    response = await client.post(
        f"/v1/orphaned-interviews/{world.b.orphan_id}/match",
        json={"application_id": world.a.application["id"]},
        headers=tokens("admin", world.b.org_id),
    )

    assert_problem(response, 404, "not-found")
    assert await snapshot(client, tokens, world.a) == before_a
    assert await snapshot(client, tokens, world.b) == before_b


@pytest.mark.parametrize("route", route_params(ADMIN_ONLY))
async def test_member_is_forbidden_admin_routes_and_changes_nothing(
    client: AsyncClient, tokens: Tokens, world: World, route: Route
) -> None:
    before = await snapshot(client, tokens, world.a)

    response = await route.call(
        client, tokens("member", world.a.org_id, sub="alpha-member"), world.a, world.a.ids()
    )

    assert_problem(response, 403, "forbidden")
    assert await snapshot(client, tokens, world.a) == before


@pytest.mark.parametrize("route", route_params(SYSTEM_ADMIN_ONLY))
async def test_org_admin_is_forbidden_system_admin_routes_and_changes_nothing(
    client: AsyncClient, tokens: Tokens, world: World, route: Route
) -> None:
    before = await snapshot(client, tokens, world.a)

    response = await route.call(
        client, tokens("admin", world.a.org_id, sub="alpha-admin"), world.a, world.a.ids()
    )

    assert_problem(response, 403, "forbidden")
    assert await snapshot(client, tokens, world.a) == before


async def test_every_route_needs_a_token(client: AsyncClient) -> None:
    answers = {}
    for route in ROUTES:
        response = await route.call(client, {}, MISSING, missing_ids())
        answers[route.id] = (
            response.status_code,
            response.headers["content-type"],
            response.json()["type"],
        )

    unauthorized = (401, "application/problem+json", PROBLEM_TYPE_PREFIX + "unauthorized")
    assert answers == {route.id: unauthorized for route in ROUTES}


def served_v1_routes(app: FastAPI) -> set[str]:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


def normalized(route: Route) -> str:
    return (
        route.id.replace("{org}", "{org_id}")
        .replace("{cohort}", "{cohort_id}")
        .replace("{application}", "{application_id}")
        .replace("{orphan}", "{orphan_id}")
        .replace("{event}", "{webhook_event_id}")
    )


def test_matrix_covers_every_served_v1_route(app: FastAPI) -> None:
    served = served_v1_routes(app)

    assert "GET /v1/organizations/{org_id}" in served
    assert served <= {normalized(r) for r in ROUTES}


def test_every_spec_route_is_served(app: FastAPI) -> None:
    assert {normalized(r) for r in ROUTES} <= served_v1_routes(app)


def documented(app: FastAPI, route: Route, status: int) -> dict[str, Any] | None:
    """The example problem the document shows for `route` answering `status`, if any."""
    method, path = normalized(route).split(" ")
    answer = app.openapi()["paths"][path][method.lower()]["responses"].get(str(status))
    if answer is None:
        return None
    example: dict[str, Any] = answer["content"]["application/problem+json"]["example"]
    return example


@pytest.mark.parametrize("route", route_params(SCOPED))
async def test_the_documented_404_is_what_the_route_answers(
    app: FastAPI, client: AsyncClient, tokens: Tokens, route: Route
) -> None:
    response = await route.call(client, tokens("system_admin"), MISSING, missing_ids())

    assert assert_problem(response, 404) == documented(app, route, 404)


@pytest.mark.parametrize("route", route_params(ROUTES))
async def test_the_documented_403_is_what_a_member_gets_and_only_there(
    app: FastAPI, client: AsyncClient, tokens: Tokens, world: World, route: Route
) -> None:
    member = tokens("member", world.a.org_id, sub="alpha-member")

    response = await route.call(client, member, world.a, world.a.ids())

    if route.needs == "member":
        assert response.status_code == route.success, response.text
        assert documented(app, route, 403) is None
    else:
        assert assert_problem(response, 403) == documented(app, route, 403)


def route(method: str, path: str) -> Route:
    [found] = [r for r in ROUTES if (r.method, r.path) == (method, path)]
    return found


async def test_the_documented_409s_are_what_the_routes_answer(
    app: FastAPI, client: AsyncClient, tokens: Tokens, world: World
) -> None:
    admin = tokens("admin", world.a.org_id)
    ids = world.a.ids()
    application = world.a.application
    duplicate = await client.post(
        f"/v1/cohorts/{ids['cohort']}/applications",
        json={"applicant_name": "Again", "contact_email": application["contact_email"]},
        headers=admin,
    )
    match, dismiss = (
        route("POST", "/v1/orphaned-interviews/{orphan}/match"),
        route("POST", "/v1/orphaned-interviews/{orphan}/dismiss"),
    )
    assert (await match.call(client, admin, world.a, ids)).status_code == 200
    matched_twice = await match.call(client, admin, world.a, ids)
    dismissed_after = await dismiss.call(client, admin, world.a, ids)
    move = f"/v1/applications/{ids['application']}/status"
    await client.post(move, json={"status": "accepted"}, headers=admin)
    refused = await client.post(move, json={"status": "submitted"}, headers=admin)

    create = route("POST", "/v1/cohorts/{cohort}/applications")
    assert assert_problem(duplicate, 409) == documented(app, create, 409)
    assert assert_problem(matched_twice, 409) == documented(app, match, 409)
    assert assert_problem(dismissed_after, 409) == documented(app, dismiss, 409)
    moved = route("POST", "/v1/applications/{application}/status")
    assert assert_problem(refused, 409) == documented(app, moved, 409)
