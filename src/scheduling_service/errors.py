"""Domain errors. They carry no HTTP status: `problems.py` alone maps them to answers."""


class DomainError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """Missing, or belonging to another organization: the two are indistinguishable."""


class Conflict(DomainError):
    """The request clashes with what is stored (a duplicate, or a state that forbids it)."""


class Forbidden(DomainError):
    """The caller is known but their role does not allow this."""


class InvalidInput(DomainError):
    """Input that passed schema validation but cannot be used (a bad cursor, say)."""


class InvalidSignature(DomainError):
    """A webhook delivery not signed with the cohort's secret."""


class Unavailable(DomainError):
    """The service cannot take this now; the client may try again later."""


class UpstreamFailed(DomainError):
    """A service this one depends on (Cal.com's API) refused or could not answer."""
