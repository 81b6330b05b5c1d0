import hashlib
import hmac
from collections.abc import Iterable


def sign(body: bytes, secret: str) -> str:
    """The `X-Cal-Signature-256` value Cal.com sends for `body`: lowercase hex, no prefix."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    if not header:
        return False
    # Starlette decodes header values as latin-1, so this round-trips any byte sent.
    received = header.encode("latin-1")
    matched = False
    for secret in secrets:
        # Every secret is compared, so the time taken does not tell which one matched.
        matched |= hmac.compare_digest(sign(body, secret).encode(), received)
    return matched
