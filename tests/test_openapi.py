import json
from pathlib import Path

from fastapi import FastAPI
from httpx import AsyncClient

OPENAPI_FILE = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_document_is_what_the_app_serves(app: FastAPI) -> None:
    committed = json.loads(OPENAPI_FILE.read_text())

    assert committed == app.openapi(), "run `make openapi` and commit openapi/openapi.json"


async def test_openapi_document_is_served(client: AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "scheduling-service"
