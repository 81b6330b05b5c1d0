"""Tools of the attacker: hand-made tokens, a JWKS endpoint, apps configured other ways."""

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx import ASGITransport, AsyncClient
from jwt.algorithms import RSAAlgorithm

from scheduling_service.app import create_app
from scheduling_service.config import Settings
from tests.server import start_service


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(document: dict[str, Any]) -> str:
    return b64url(json.dumps(document, separators=(",", ":")).encode())


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """An HMAC-signed JWT made by hand, so any bytes can be the key (PyJWT refuses PEM keys)."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{segment(header)}.{segment(claims)}."


@asynccontextmanager
async def serve(settings: Settings, database_url: str) -> AsyncIterator[AsyncClient]:
    """The app with `settings`, over HTTP in-process."""
    application = create_app(settings, database_url)
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://test") as client,
    ):
        yield client


@asynccontextmanager
async def served_process(database_url: str, **env: str) -> AsyncIterator[AsyncClient]:
    """`scheduling-service serve` with the suite's JWT secret and `env`, and a client of it."""
    with start_service(database_url, **env) as server:
        async with AsyncClient(base_url=server.base_url, timeout=60) as client:
            yield client


@dataclass
class Jwks:
    """A JWKS endpoint on the loopback interface, serving one RSA key, counting fetches."""

    url: str
    kid: str
    private_key: rsa.RSAPrivateKey
    document: dict[str, Any]
    fetches: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(provider_key: rsa.RSAPrivateKey) -> Iterator[Jwks]:
    private_key = provider_key
    public = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    kid = "key-2026"
    document = {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}
    body = json.dumps(document).encode()
    fetches: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval, so shutting the server down does not wait half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        yield Jwks(url, kid, private_key, document, fetches)
    finally:
        server.shutdown()
        server.server_close()
