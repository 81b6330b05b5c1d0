"""The alert emails, rendered when they are sent from the orphans' current rows.

Names, emails, links and time zones come from Cal.com bookings, typed by whoever books: they
appear only in the body, never in a header, where the email library may decode an RFC 2047
encoded-word in them into line breaks (CVE-2024-6923) or into characters it cannot encode. In
the body they are shown as typed, escaped in the HTML part.
"""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduling_service.config import Settings
from scheduling_service.models import MessageKind, OrphanedInterview, OrphanState, OutboxMessage


@dataclass(frozen=True)
class _Orphan:
    """One orphan, as both parts of the email show it."""

    applicant: str
    utc_time: str
    local_time: str
    meeting_url: str | None
    orphan_id: str
    state: str
    resolve_url: str


def render(
    message: OutboxMessage,
    cohort_name: str,
    orphans: Sequence[OrphanedInterview],
    settings: Settings,
) -> EmailMessage:
    if message.kind == MessageKind.CALCOM_KEY_REJECTED:
        return _key_rejected(message, cohort_name, settings)
    shown = [_describe(orphan, settings) for orphan in orphans]
    cohort = _inert(cohort_name)
    email = EmailMessage()
    subject_cohort = _header_text(cohort)
    if message.kind == MessageKind.ORPHAN_ALERT:
        # The booking's time tells alerts apart in an inbox; the booker's name would let them
        # write the header.
        when = f"{orphans[0].start_time.astimezone(UTC):%a %d %b %Y %H:%M} UTC"
        email["Subject"] = f"[{subject_cohort}] Unmatched interview booking on {when}"
        intro = f"A booking for {cohort} matched no application."
    else:
        bookings = "booking" if len(shown) == 1 else "bookings"
        email["Subject"] = f"[{subject_cohort}] {len(shown)} more unmatched interview {bookings}"
        intro = (
            f"{len(shown)} more {bookings} for {cohort} matched no application. You had "
            f"{settings.alert_limit_per_window} alerts for this cohort within "
            f"{_duration(settings.alert_window_seconds)}, so these are gathered here."
        )
    email["From"] = settings.alert_from
    email["To"] = message.recipient
    email["Date"] = format_datetime(datetime.now(UTC))
    # Stable across retries, so a mail system can tell a repeated delivery for what it is.
    email["Message-ID"] = f"<{message.id}@{settings.alert_domain()}>"
    email.set_content(_text(intro, shown))
    email.add_alternative(_html(intro, shown), subtype="html")
    return email


def _key_rejected(message: OutboxMessage, cohort: str, settings: Settings) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = (
        f"[{_header_text(cohort)}] Cal.com refused the API key: reconciliation stopped"
    )
    email["From"] = settings.alert_from
    email["To"] = message.recipient
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = f"<{message.id}@{settings.alert_domain()}>"
    email.set_content(
        f"Cal.com's API refused the API key of {_inert(cohort)}, so bookings whose webhooks never "
        "arrived are no longer recovered from it.\n\n"
        "Create a new API key in Cal.com (Settings > Developer > API keys) and set it with "
        f"PUT /v1/cohorts/{message.cohort_id}/calcom-connection. This alert is sent once; the "
        "cohort's calcom_connection.last_error shows the latest failure.\n"
    )
    return email


def _describe(orphan: OrphanedInterview, settings: Settings) -> _Orphan:
    applicant = _inert(orphan.applicant_email)
    if orphan.applicant_name and orphan.applicant_name.strip():
        applicant = f"{_inert(orphan.applicant_name)} <{applicant}>"
    base_url = settings.alert_link_base()
    return _Orphan(
        applicant=applicant,
        utc_time=_span(orphan.start_time, orphan.end_time, UTC),
        local_time=_local_span(orphan),
        meeting_url=_inert(orphan.meeting_url) if orphan.meeting_url else None,
        orphan_id=str(orphan.id),
        state=orphan.state,
        resolve_url=f"{base_url}/cohorts/{orphan.cohort_id}/orphaned-interviews/{orphan.id}",
    )


def _local_span(orphan: OrphanedInterview) -> str:
    if not orphan.time_zone:
        return "the booker's time zone is unknown"
    try:
        zone = ZoneInfo(orphan.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"the booker's time zone {_inert(orphan.time_zone)!r} is unknown"
    return f"{_span(orphan.start_time, orphan.end_time, zone)} ({_inert(orphan.time_zone)})"


def _span(start: datetime, end: datetime, zone: tzinfo) -> str:
    start, end = start.astimezone(zone), end.astimezone(zone)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %d %b %Y %H:%M}"
    return f"{start:%a %d %b %Y %H:%M}-{until} {start.tzname()}"


def _text(intro: str, orphans: Sequence[_Orphan]) -> str:
    blocks = []
    for orphan in orphans:
        lines = [
            f"Applicant: {orphan.applicant}",
            f"Interview: {orphan.utc_time}",
            f"           {orphan.local_time}",
            f"Meeting link: {orphan.meeting_url or 'none'}",
            f"Orphaned interview ID: {orphan.orphan_id}",
        ]
        if orphan.state != OrphanState.OPEN:
            lines.append(f"No longer open: {orphan.state}")
        lines.append(f"Match it to an application or dismiss it: {orphan.resolve_url}")
        blocks.append("\n".join(lines))
    return f"{intro}\n\n" + "\n\n".join(blocks) + "\n"


def _html(intro: str, orphans: Sequence[_Orphan]) -> str:
    e = html.escape
    items = []
    for orphan in orphans:
        meeting = "none"
        if orphan.meeting_url:
            # The Cal.com parser keeps only http(s) links, so this is never a javascript: URL.
            meeting = f'<a href="{e(orphan.meeting_url)}">{e(orphan.meeting_url)}</a>'
        resolved = ""
        if orphan.state != OrphanState.OPEN:
            resolved = f"<tr><th>No longer open</th><td>{e(orphan.state)}</td></tr>"
        items.append(
            "<table>"
            f"<tr><th>Applicant</th><td>{e(orphan.applicant)}</td></tr>"
            f"<tr><th>Interview</th><td>{e(orphan.utc_time)}<br>{e(orphan.local_time)}</td></tr>"
            f"<tr><th>Meeting link</th><td>{meeting}</td></tr>"
            f"<tr><th>Orphaned interview ID</th><td>{e(orphan.orphan_id)}</td></tr>"
            f"{resolved}</table>"
            f'<p><a href="{e(orphan.resolve_url)}">Match it to an application or dismiss it</a>'
            "</p>"
        )
    return (
        '<!DOCTYPE html><html><body style="font-family: sans-serif">'
        f"<p>{e(intro)}</p>{'<hr>'.join(items)}</body></html>"
    )


# Lone surrogates cannot be encoded, so a message holding one could never be sent; other
# control characters have no business in a one-line value.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _inert(value: str) -> str:
    """Free text as one printable line, shown as typed otherwise."""
    return _UNPRINTABLE.sub("\N{REPLACEMENT CHARACTER}", " ".join(value.split()))


def _header_text(value: str) -> str:
    """Text for a header that the email library cannot read as an encoded-word: it would
    decode one when folding the header, however the text was meant."""
    return _inert(value).replace("=?", "=\N{ZERO WIDTH SPACE}?")


def _duration(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
