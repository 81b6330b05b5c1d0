"""The X-Cal-Signature-256 check: lowercase hex HMAC-SHA256 of the raw body, no prefix."""

import hashlib
import hmac
from collections.abc import Iterator

import pytest

from scheduling_service.calcom.signature import mismatch_detail, sign, signature_matches
from tests.calcom_bodies import SAMPLES

SECRET = "whsec-3f9a0c7e2b5d4a1f8e6c9b0d7a2f4e1c"
OTHER_SECRET = "whsec-previous-secret-0123456789abcdef"
BODY = (SAMPLES / "booking_created.json").read_bytes()


def _hmac_hex(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_sign_matches_known_hmac_sha256_vector() -> None:
    # The RFC-style example from Wikipedia's HMAC article.
    assert sign(b"The quick brown fox jumps over the lazy dog", "key") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        pytest.param(BODY, SECRET, id="sample-body"),
        pytest.param(b"", SECRET, id="empty-body"),
        pytest.param(b"\x00\xff binary", "s", id="binary-body"),
        pytest.param(b"{}", "s\u00e9cr\u00e8t-\u2603", id="non-ascii-secret-as-utf8"),
    ],
)
def test_sign_is_lowercase_hex_hmac_sha256_of_body(body: bytes, secret: str) -> None:
    signature = sign(body, secret)
    assert signature == _hmac_hex(body, secret)
    assert len(signature) == 64
    assert signature == signature.lower()
    assert not signature.startswith("sha256=")


def test_sign_depends_on_every_byte_and_on_the_secret() -> None:
    assert sign(BODY, SECRET) != sign(BODY + b" ", SECRET)
    assert sign(BODY, SECRET) != sign(BODY, OTHER_SECRET)


def test_signature_matches_exact_signature() -> None:
    assert signature_matches(BODY, _hmac_hex(BODY, SECRET), [SECRET]) is True


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(_hmac_hex(BODY, SECRET).upper(), id="upper-cased"),
        pytest.param(_hmac_hex(BODY, SECRET)[:-1], id="truncated-by-one"),
        pytest.param(_hmac_hex(BODY, SECRET)[:32], id="truncated-to-half"),
        pytest.param(_hmac_hex(BODY, SECRET) + "0", id="one-extra-char"),
        pytest.param("sha256=" + _hmac_hex(BODY, SECRET), id="sha256-prefix"),
        pytest.param(" " + _hmac_hex(BODY, SECRET), id="leading-space"),
        pytest.param("no-secret-provided", id="no-secret-provided"),
        pytest.param(_hmac_hex(BODY, OTHER_SECRET), id="other-secret"),
        pytest.param(_hmac_hex(BODY + b"\n", SECRET), id="signature-of-changed-body"),
        pytest.param("\u00e9" * 64, id="latin-1-chars"),
        pytest.param(_hmac_hex(BODY, SECRET)[:-1] + "\u00ff", id="latin-1-last-char"),
        pytest.param("0" * 64, id="zeros"),
    ],
)
def test_signature_does_not_match(header: str | None) -> None:
    assert signature_matches(BODY, header, [SECRET]) is False


def test_signature_of_original_body_does_not_match_changed_body() -> None:
    signature = _hmac_hex(BODY, SECRET)
    changed = BODY.replace(b"jane.doe@example.com", b"mallory@example.com")
    assert changed != BODY
    assert signature_matches(changed, signature, [SECRET]) is False


def test_no_secrets_never_match() -> None:
    assert signature_matches(BODY, _hmac_hex(BODY, SECRET), []) is False


@pytest.mark.parametrize(
    "secrets",
    [
        pytest.param([OTHER_SECRET, SECRET], id="second-of-two"),
        pytest.param([SECRET, OTHER_SECRET], id="first-of-two"),
    ],
)
def test_signature_matches_either_secret_during_rotation(secrets: list[str]) -> None:
    assert signature_matches(BODY, _hmac_hex(BODY, SECRET), secrets) is True


def test_signature_matches_neither_of_two_wrong_secrets() -> None:
    signature = _hmac_hex(BODY, SECRET)
    assert signature_matches(BODY, signature, [OTHER_SECRET, "third-secret"]) is False


def test_signature_matches_with_secrets_from_a_generator() -> None:
    secrets = (s for s in [OTHER_SECRET, SECRET])
    assert signature_matches(BODY, _hmac_hex(BODY, SECRET), secrets) is True


def test_every_secret_is_compared_even_after_a_match() -> None:
    # So the time taken does not tell which secret matched.
    seen: list[str] = []

    def secrets() -> Iterator[str]:
        for secret in [SECRET, OTHER_SECRET]:
            seen.append(secret)
            yield secret

    assert signature_matches(BODY, _hmac_hex(BODY, SECRET), secrets()) is True
    assert seen == [SECRET, OTHER_SECRET]


@pytest.mark.parametrize(
    ("header", "cause"),
    [
        (None, "is missing"),
        ("", "is missing"),
        ("no-secret-provided", "has no secret"),
        ("sha256=" + "a" * 64, "`sha256=`"),
        ("SHA256=" + "a" * 64, "`sha256=`"),
        ("A" * 64, "not a signature as Cal.com sends it"),
        ("a" * 63, "not a signature as Cal.com sends it"),
        ("a" * 64, "does not match this cohort's webhook secret"),
    ],
)
def test_mismatch_detail_names_what_to_fix_in_calcom(header: str | None, cause: str) -> None:
    assert cause in mismatch_detail(header)


def test_mismatch_detail_of_a_wrong_signature_does_not_depend_on_how_near_it_came() -> None:
    right = sign(BODY, SECRET)
    near = right[:-1] + ("0" if right[-1] != "0" else "1")
    assert mismatch_detail(near) == mismatch_detail("f" * 64)
