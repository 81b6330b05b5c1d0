"""A SPA on its own origin calls the real server from a real browser (SPEC section 5)."""

import json

import httpx

from tests.browser.chromium import rendered_dom, serving_pages
from tests.conftest import JWT_SECRET, Tokens
from tests.server import running_server, service_env

# The page shows what its cross-origin call got, or the browser's refusal.
PAGE = """<!doctype html>
<html><body><p id="result">pending</p>
<script>
fetch(%(url)s, {headers: {"Authorization": %(authorization)s}})
  .then(async (response) => {
    const body = await response.json();
    const id = response.headers.get("X-Request-ID") ? "with request id" : "without request id";
    document.getElementById("result").textContent =
      "status " + response.status + ": " + body.name + " " + id;
  })
  .catch((error) => {
    document.getElementById("result").textContent = "blocked: " + error.name;
  });
</script></body></html>
"""


def page(base_url: str, path: str, authorization: str) -> str:
    return PAGE % {
        "url": json.dumps(base_url + path),
        "authorization": json.dumps(authorization),
    }


def test_a_page_on_an_allowed_origin_calls_the_api_and_another_is_blocked(
    database_url: str, tokens: Tokens
) -> None:
    with serving_pages(2) as (spa, other):
        env = service_env(
            database_url, JWT_SECRET=JWT_SECRET, CORS_ALLOWED_ORIGINS=json.dumps([spa.origin])
        )
        with running_server(env) as base_url:
            created = httpx.post(
                f"{base_url}/v1/organizations",
                json={"name": "Acme Fellowship"},
                headers=tokens("system_admin"),
            )
            org = created.json()
            admin = tokens("admin", org["id"])["Authorization"]
            spa.html = other.html = page(base_url, f"/v1/organizations/{org['id']}", admin)

            allowed = rendered_dom(spa.url)
            blocked = rendered_dom(other.url)

    assert created.status_code == 201, created.text
    assert "status 200: Acme Fellowship with request id" in allowed
    assert "blocked: TypeError" in blocked
