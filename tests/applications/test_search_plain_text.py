"""`q` is plain text: quotes, backslashes, LIKE wildcards and SQL in it match themselves."""

from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import Tokens
from tests.factories import create_application

PEOPLE = [
    ("Siobhan O'Brien", "obrien@example.org"),
    ("Bart Back\\Slash", "bart@example.org"),
    ("Semi Colon", "semi@example.org"),
]
SEARCHES = [
    ("O'Brien", ["Siobhan"]),
    ("o'b", ["Siobhan"]),
    ("'", ["Siobhan"]),
    ("\\", ["Bart"]),
    ("k\\s", ["Bart"]),
    ("'; DROP TABLE applications; --", []),
    ("$1", []),
    ("%'%", []),
]


@pytest.fixture(autouse=True)
async def awkward_names(client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]) -> None:
    for name, email in PEOPLE:
        await create_application(client, tokens, cohort, name=name, email=email, status=None)


async def test_search_terms_with_quotes_and_backslashes_are_plain_text(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    found = {}
    for q, _ in SEARCHES:
        response = await client.get(
            f"/v1/cohorts/{cohort['id']}/applications",
            params={"q": q},
            headers=tokens("member", cohort["organization_id"]),
        )
        assert response.status_code == 200, response.text
        found[q] = sorted(a["applicant_name"].split()[0] for a in response.json()["items"])

    assert found == dict(SEARCHES)
