"""The command line's argument parsing: every option's help gives its default, and a wrong
value is one line naming the form expected."""

import argparse
import math
import uuid
from datetime import datetime
from typing import Any, NoReturn

MAX_PORT = 65535


def aware_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time with an offset, e.g. 2026-05-12T14:00Z, not {value!r}"
        )
    return moment


def port(value: str) -> int:
    if not value.isdigit() or int(value) > MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"expected a port number from 0 to {MAX_PORT}, not {value!r}"
        )
    return int(value)


def positive_whole(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 up, not {value!r}")
    return int(value)


def hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = 0.0
    if not 0 < hours < math.inf:
        raise argparse.ArgumentTypeError(
            f"expected a number of hours above 0, e.g. 12 or 0.5, not {value!r}"
        )
    return hours


def organization_id(value: str) -> uuid.UUID:
    return _identifier(value, "an organization ID (a UUID, as POST /v1/organizations answers it)")


def cohort_id(value: str) -> uuid.UUID:
    return _identifier(
        value, "a cohort ID (a UUID, as POST /v1/organizations/{org_id}/cohorts answers it)"
    )


def _identifier(value: str, expected: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, not {value!r}") from None


class Parser(argparse.ArgumentParser):
    """A wrong argument is one line naming the expected form, not the usage text too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", ShowDefaults)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class ShowDefaults(argparse.HelpFormatter):
    """Every option's help says its default, or that it is required."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if action.required:
            return f"{text} (required)"
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"
