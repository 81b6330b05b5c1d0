from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import Tokens
from tests.setup_data import create_cohort, create_org


@pytest.fixture
async def org(client: AsyncClient, tokens: Tokens) -> dict[str, Any]:
    return await create_org(client, tokens)


@pytest.fixture
async def cohort(client: AsyncClient, tokens: Tokens, org: dict[str, Any]) -> dict[str, Any]:
    return await create_cohort(client, tokens, org)
