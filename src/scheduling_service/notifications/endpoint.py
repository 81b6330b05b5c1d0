"""The mail server an SMTP_URL names; parsed when the settings are read, so a wrong URL is
refused at start."""

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class SmtpEndpoint:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None
    """True requires STARTTLS, False never tries it, None uses it when the server offers it."""

    @classmethod
    def from_url(cls, url: str) -> "SmtpEndpoint":
        """smtp://[user:password@]host[:port][?starttls=true|false], or smtps:// for TLS from
        the first byte; the user and password are percent-decoded."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://[user:password@]host[:port] or smtps://")
        use_tls = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", [None])[-1]
        if starttls not in {None, "true", "false"}:
            raise ValueError("SMTP_URL's starttls must be true or false")
        try:
            port = parts.port or (465 if use_tls else 25)
        except ValueError:
            raise ValueError("SMTP_URL's port must be a number from 0 to 65535") from None
        return cls(
            hostname=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=None if starttls is None else starttls == "true",
        )
