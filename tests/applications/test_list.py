from typing import Any

import pytest
from httpx import AsyncClient

from scheduling_service.applications import repository
from tests.conftest import Tokens
from tests.factories import assert_problem, create_application, create_cohort

# name, email, status
PEOPLE = [
    ("Alice Smith", "alice@example.org", "submitted"),
    ("Bob Jones", "bob@example.org", "under_review"),
    ("Carol 100% Ready", "carol@example.org", "waiting_first_round"),
    ("Dan Brown", "dan_b@example.org", "waiting_second_round"),
    ("Eve Adams", "eve@alice-corp.example.org", "accepted"),
    ("Frank Miller", "frank@example.org", "declined"),
]


@pytest.fixture
async def people(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    created = {}
    for name, email, status in PEOPLE:
        application = await create_application(
            client, tokens, cohort, name=name, email=email, status=status
        )
        created[name.split()[0]] = application
    return created


async def names(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], params: Any
) -> list[str]:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications",
        params=params,
        headers=tokens("member", cohort["organization_id"]),
    )
    assert response.status_code == 200, response.text
    return sorted(a["applicant_name"].split()[0] for a in response.json()["items"])


@pytest.mark.usefixtures("people")
@pytest.mark.commits  # lists newest first: rows of one transaction share now()
async def test_list_without_filters_shows_every_application_newest_first(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications",
        headers=tokens("member", cohort["organization_id"]),
    )

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    assert [a["applicant_name"] for a in page["items"]] == [p[0] for p in reversed(PEOPLE)]


async def test_list_shows_only_the_cohorts_own_applications(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    other = await create_cohort(client, tokens, cohort["organization_id"], "Other")
    mine = await create_application(client, tokens, cohort, email="mine@example.org", status=None)
    await create_application(client, tokens, other, email="theirs@example.org", status=None)

    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications", headers=tokens("system_admin")
    )

    assert response.json() == {"items": [mine], "next_cursor": None}


FILTER_CASES: list[tuple[Any, list[str]]] = [
    ({"status": "submitted"}, ["Alice"]),
    ([("status", "submitted"), ("status", "accepted")], ["Alice", "Eve"]),
    ([("status", "declined"), ("status", "waiting_second_round")], ["Dan", "Frank"]),
    ({"stage": "decision"}, ["Eve", "Frank"]),
    ({"stage": "first_round"}, ["Carol"]),
    ({"stage": "review"}, ["Bob"]),
    ({"pipeline_state": "awaiting_scheduling"}, ["Carol", "Dan"]),
    ({"pipeline_state": "scheduled"}, []),
    ({"pipeline_state": "none"}, ["Alice", "Bob", "Eve", "Frank"]),
    ({"stage": "decision", "status": "accepted"}, ["Eve"]),
    ({"stage": "decision", "status": "submitted"}, []),
    ({"stage": "second_round", "pipeline_state": "awaiting_scheduling"}, ["Dan"]),
]

# A q holding % or _ is matched literally, not as a LIKE wildcard.
SEARCH_CASES: list[tuple[str, list[str]]] = [
    ("alice", ["Alice", "Eve"]),
    ("ALICE", ["Alice", "Eve"]),
    ("smith", ["Alice"]),
    ("BOB@EXAMPLE", ["Bob"]),
    ("nobody", []),
    ("%", ["Carol"]),
    ("_", ["Dan"]),
    ("100%", ["Carol"]),
    ("n_b", ["Dan"]),
    ("a%e", []),
]


# One test per table keeps the six applications to one setup; the dict shows every mismatch.
@pytest.mark.usefixtures("people")
async def test_list_filters_by_status_stage_and_pipeline_state(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    found = {
        repr(params): await names(client, tokens, cohort, params) for params, _ in FILTER_CASES
    }

    assert found == {repr(params): expected for params, expected in FILTER_CASES}


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("by_id_max", [1000, 0], ids=["rare-terms-by-id", "common-terms-walked"])
async def test_list_searches_name_or_email_case_insensitively_and_literally(
    client: AsyncClient,
    tokens: Tokens,
    cohort: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    by_id_max: int,
) -> None:
    # A term matching more than this many applications is searched by walking the list.
    monkeypatch.setattr(repository, "_SEARCH_BY_ID_MAX", by_id_max)

    found = {q: await names(client, tokens, cohort, {"q": q}) for q, _ in SEARCH_CASES}

    assert found == dict(SEARCH_CASES)


@pytest.mark.usefixtures("people")
async def test_search_combines_with_filters(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    assert await names(client, tokens, cohort, {"q": "example", "stage": "decision"}) == [
        "Eve",
        "Frank",
    ]


@pytest.mark.commits  # lists newest first: rows of one transaction share now()
async def test_limit_2_walks_five_applications_without_repeats(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    created = [
        await create_application(
            client, tokens, cohort, name=f"P{i}", email=f"p{i}@example.org", status=None
        )
        for i in range(5)
    ]
    headers = tokens("member", cohort["organization_id"])
    pages: list[list[str]] = []
    cursor: str | None = None

    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(
            f"/v1/cohorts/{cohort['id']}/applications", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        pages.append([a["id"] for a in response.json()["items"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert cursor is None
    walked = [id_ for page in pages for id_ in page]
    assert walked == [a["id"] for a in reversed(created)]


async def test_filtered_pages_keep_the_filter(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    for i in range(3):
        await create_application(client, tokens, cohort, email=f"s{i}@example.org", status=None)
        await create_application(
            client, tokens, cohort, email=f"a{i}@example.org", status="accepted"
        )
    path = f"/v1/cohorts/{cohort['id']}/applications"
    headers = tokens("member", cohort["organization_id"])

    first = (
        await client.get(path, params={"status": "accepted", "limit": 2}, headers=headers)
    ).json()
    second = (
        await client.get(
            path,
            params={"status": "accepted", "limit": 2, "cursor": first["next_cursor"]},
            headers=headers,
        )
    ).json()

    statuses = [a["status"] for a in first["items"] + second["items"]]
    assert statuses == ["accepted"] * 3
    assert second["next_cursor"] is None


async def test_exactly_full_last_page_has_no_next_cursor(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    for i in range(2):
        await create_application(client, tokens, cohort, email=f"p{i}@example.org", status=None)

    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications",
        params={"limit": 2},
        headers=tokens("member", cohort["organization_id"]),
    )

    assert len(response.json()["items"]) == 2
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage"},
        {"cursor": "!!!!"},
        {"cursor": "bm90LWEtY3Vyc29y"},
        {"cursor": "MjAyNi0wMS0wMVQwMDowMDowMHxub3QtYS11dWlk"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"status": "hired"},
        {"stage": "interview"},
        {"pipeline_state": "booked"},
        {"q": "x" * 201},
    ],
)
async def test_bad_list_parameters_are_invalid(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], params: dict[str, Any]
) -> None:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications",
        params=params,
        headers=tokens("member", cohort["organization_id"]),
    )

    assert_problem(response, 422, "validation-error")


async def test_limit_200_is_accepted(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications",
        params={"limit": 200},
        headers=tokens("member", cohort["organization_id"]),
    )

    assert response.status_code == 200, response.text
