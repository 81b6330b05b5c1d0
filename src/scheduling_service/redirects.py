"""Redirects name a path, never a host.

Starlette answers a path with a missing or extra trailing slash with a redirect to the
absolute URL it builds from the request, `Host` header included: whoever controls that header
(a proxy's cache, a crafted link) would send clients elsewhere. Every redirect the app sends
keeps only the path and query of its `Location`.
"""

from urllib.parse import urlsplit, urlunsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RelativeRedirects:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (name, _relative(value) if name.lower() == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_relative)


def _relative(location: bytes) -> bytes:
    parts = urlsplit(location.decode("latin-1"))
    path = parts.path or "/"
    # `//host` would still name a host: one leading slash only.
    relative = urlunsplit(("", "", "/" + path.lstrip("/"), parts.query, ""))
    return relative.encode("latin-1")
