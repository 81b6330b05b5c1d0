"""/docs and /redoc render in a browser that can reach nothing but the service itself."""

import html

import httpx
import pytest

from tests.browser.chromium import rendered_dom
from tests.conftest import JWT_SECRET
from tests.server import running_server, service_env

HTTP_METHODS = ("get", "put", "post", "patch", "delete")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_list_every_operation_offline(database_url: str, page: str) -> None:
    with running_server(service_env(database_url, JWT_SECRET=JWT_SECRET)) as base_url:
        document = httpx.get(f"{base_url}/openapi.json").json()
        dom = html.unescape(rendered_dom(base_url + page))
    summaries = [
        operation["summary"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]

    assert len(summaries) > 20
    assert [summary for summary in summaries if summary not in dom] == []
