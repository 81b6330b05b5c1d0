import hashlib
import hmac
import re
from collections.abc import Iterable

# What Cal.com sends in X-Cal-Signature-256 when its webhook has no secret set.
NO_SECRET = "no-secret-provided"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


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


def mismatch_detail(header: str | None) -> str:
    """Why a signature that did not match was refused, as the admin fixes it in Cal.com's
    webhook settings. Only the header's shape is described, never how near it came to a
    secret's signature, so the answer helps nobody guess a secret."""
    if not header:
        return (
            "X-Cal-Signature-256 is missing: Cal.com sends it with every delivery, so this "
            "delivery did not come from a Cal.com webhook, or something on the way removed it"
        )
    if header.strip() == NO_SECRET:
        return (
            "the webhook in Cal.com has no secret (X-Cal-Signature-256 is "
            f"`{NO_SECRET}`): set its secret in Cal.com's webhook settings to this cohort's "
            "webhook secret"
        )
    if header.strip().lower().startswith("sha256="):
        return (
            "X-Cal-Signature-256 starts with `sha256=`, which Cal.com never sends: it must be "
            "the bare lowercase hex HMAC-SHA256 of the body, as Cal.com's webhooks send it"
        )
    if not _HEX_DIGEST.fullmatch(header):
        return (
            "X-Cal-Signature-256 is not a signature as Cal.com sends it (64 lowercase hex "
            "digits of HMAC-SHA256)"
        )
    return (
        "X-Cal-Signature-256 does not match this cohort's webhook secret, current or (during a "
        "rotation's grace period) previous: set the webhook's secret in Cal.com's settings to "
        "this cohort's current secret (another cohort's secret, or one rotated out, does not "
        "match)"
    )
