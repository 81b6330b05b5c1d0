"""Bearer JWT authentication and the role and tenancy rules of SPEC section 6."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from anyio import to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scheduling_service.config import Settings
from scheduling_service.errors import Forbidden, NotFound, Unavailable
from scheduling_service.problems import UNAUTHORIZED, ProblemError

_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"
    SYSTEM_ADMIN = "system_admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    organization_id: uuid.UUID | None

    @property
    def is_system_admin(self) -> bool:
        return self.role is Role.SYSTEM_ADMIN

    def ensure_member_of(self, organization_id: uuid.UUID, what: str) -> None:
        """Anyone outside the organization is told the resource does not exist."""
        if not self.is_system_admin and self.organization_id != organization_id:
            raise NotFound(f"{what} not found")

    def ensure_admin_of(self, organization_id: uuid.UUID, what: str) -> None:
        self.ensure_member_of(organization_id, what)
        if self.role is Role.MEMBER:
            raise Forbidden("this needs the admin role of the organization")

    def ensure_system_admin(self) -> None:
        if not self.is_system_admin:
            raise Forbidden("this needs the system_admin role")


class TokenVerifier:
    """Checks signature, algorithm, expiry and, when configured, audience, issuer and age."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._max_age = settings.jwt_max_token_age
        self._required = ["exp", "sub", "role"] + (["iat"] if self._max_age is not None else [])

    def _refuse_if_too_old(self, claims: dict[str, Any]) -> None:
        # PyJWT checked that `iat` is a number and not in the future.
        if self._max_age is not None:
            age = datetime.now(UTC).timestamp() - float(claims["iat"])
            if age > self._max_age:
                raise jwt.InvalidTokenError(
                    f"issued {int(age)} s ago, more than JWT_MAX_TOKEN_AGE ({self._max_age} s)"
                )

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self._settings.jwt_algorithms:
                raise jwt.InvalidAlgorithmError("algorithm not accepted")
            key = await self._key_for(token, algorithm)
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={
                    "require": self._required,
                    "verify_aud": self._settings.jwt_audience is not None,
                },
            )
            self._refuse_if_too_old(claims)
        except jwt.PyJWKClientConnectionError:
            # The token may well be good: telling the client it is not would make it drop it.
            raise Unavailable("the token's signing keys cannot be fetched now") from None
        except (jwt.PyJWTError, ValueError) as error:
            raise _unauthorized(f"invalid token: {_reason(error)}") from None
        return _principal_from(claims)

    async def _key_for(self, token: str, algorithm: str) -> Any:
        # The algorithm decides the key source, so a public JWKS key is never used as an
        # HMAC secret (the classic algorithm-confusion attack).
        if algorithm in _SYMMETRIC:
            if self._secret is None:
                raise jwt.InvalidAlgorithmError("no shared secret is configured")
            return self._secret
        if self._jwks is None:
            raise jwt.InvalidAlgorithmError("no JWKS URL is configured")
        jwks = self._jwks
        signing_key = await to_thread.run_sync(jwks.get_signing_key_from_jwt, token)
        return signing_key.key


def _principal_from(claims: dict[str, Any]) -> Principal:
    subject, role_claim, org_claim = claims.get("sub"), claims.get("role"), claims.get("org_id")
    if not isinstance(subject, str) or not subject:
        raise _unauthorized("invalid token: sub must be a non-empty string")
    try:
        role = Role(str(role_claim))
    except ValueError:
        raise _unauthorized("invalid token: role must be member, admin or system_admin") from None
    organization_id: uuid.UUID | None = None
    if role is not Role.SYSTEM_ADMIN or org_claim is not None:
        try:
            organization_id = uuid.UUID(str(org_claim))
        except ValueError:
            raise _unauthorized("invalid token: org_id must be an organization ID") from None
    return Principal(subject=subject, role=role, organization_id=organization_id)


def issue_token(
    settings: Settings,
    *,
    role: Role,
    organization_id: uuid.UUID | None,
    subject: str,
    ttl: timedelta,
) -> str:
    """A token signed with JWT_SECRET, for local use and tests."""
    if settings.jwt_secret is None:
        raise ValueError("JWT_SECRET is not set")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "role": role.value, "iat": now, "exp": now + ttl}
    if organization_id is not None:
        claims["org_id"] = str(organization_id)
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _reason(error: Exception) -> str:
    return str(error)[:200] or type(error).__name__


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT (HS256 with JWT_SECRET, or RS256/ES256 from JWT_JWKS_URL) with claims "
    "`sub`, `role` (`member`, `admin` or `system_admin`), `org_id` and `exp`.",
)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
