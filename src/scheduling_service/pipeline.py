"""The application status state machine (SPEC section 2).

This module is the only place that decides a status. It has no I/O and imports nothing
beyond the standard library, so every rule here is tested over the whole table.

- A booking created saves the interview and moves a `waiting_*` status to its
  `*_scheduled` status; every other status stays (terminal ones never move).
- A reschedule of the application's current interview replaces the interview and keeps the
  status; a reschedule of another live booking of the application changes nothing on the
  application (that booking alone moves); any other reschedule acts as a booking created.
- A cancellation of the current interview clears it and reverts `*_scheduled` to `waiting_*`,
  unless another live booking of the application remains: then that booking becomes the
  interview and the status stays. A cancellation of any other booking changes nothing.
- Admins move applications by hand only along `MANUAL_MOVES`.
"""

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    WAITING_FIRST_ROUND = "waiting_first_round"
    FIRST_ROUND_SCHEDULED = "first_round_scheduled"
    WAITING_SECOND_ROUND = "waiting_second_round"
    SECOND_ROUND_SCHEDULED = "second_round_scheduled"
    ACCEPTED = "accepted"
    WAITLIST = "waitlist"
    DECLINED = "declined"


class Stage(StrEnum):
    APPLICATION = "application"
    REVIEW = "review"
    FIRST_ROUND = "first_round"
    SECOND_ROUND = "second_round"
    DECISION = "decision"


class PipelineState(StrEnum):
    """What the SPA's Pipeline column shows."""

    AWAITING_SCHEDULING = "awaiting_scheduling"
    SCHEDULED = "scheduled"
    NONE = "none"


class BookingEvent(StrEnum):
    CREATED = "created"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class InterviewChange(StrEnum):
    """What a booking event does to the interview stored on the application."""

    SAVE = "save"
    """The event's booking becomes the interview."""
    FALL_BACK = "fall_back"
    """The application's most recently created other live booking becomes the interview."""
    CLEAR = "clear"
    KEEP = "keep"


class Concerns(StrEnum):
    """Which of the application's bookings a reschedule or cancellation is about."""

    CURRENT = "current"
    """The application's current interview."""
    OTHER_LIVE = "other_live"
    """A live booking of the application that is not its current interview."""
    NOTHING_LIVE = "nothing_live"
    """No live booking of the application (unknown to the service, or cancelled already)."""


STAGE_OF: dict[Status, Stage] = {
    Status.SUBMITTED: Stage.APPLICATION,
    Status.UNDER_REVIEW: Stage.REVIEW,
    Status.WAITING_FIRST_ROUND: Stage.FIRST_ROUND,
    Status.FIRST_ROUND_SCHEDULED: Stage.FIRST_ROUND,
    Status.WAITING_SECOND_ROUND: Stage.SECOND_ROUND,
    Status.SECOND_ROUND_SCHEDULED: Stage.SECOND_ROUND,
    Status.ACCEPTED: Stage.DECISION,
    Status.WAITLIST: Stage.DECISION,
    Status.DECLINED: Stage.DECISION,
}

SCHEDULED_AFTER_WAITING: dict[Status, Status] = {
    Status.WAITING_FIRST_ROUND: Status.FIRST_ROUND_SCHEDULED,
    Status.WAITING_SECOND_ROUND: Status.SECOND_ROUND_SCHEDULED,
}
WAITING_AFTER_CANCELLED: dict[Status, Status] = {
    scheduled: waiting for waiting, scheduled in SCHEDULED_AFTER_WAITING.items()
}
ROUND_OF: dict[Status, int] = {
    Status.WAITING_FIRST_ROUND: 1,
    Status.FIRST_ROUND_SCHEDULED: 1,
    Status.WAITING_SECOND_ROUND: 2,
    Status.SECOND_ROUND_SCHEDULED: 2,
}

_DECISIONS = frozenset({Status.ACCEPTED, Status.WAITLIST, Status.DECLINED})

# The moves an admin may make by hand. Scheduled statuses are reached only through bookings,
# so an application never claims an interview it does not have. A waitlisted applicant can
# still be accepted or declined; accepted and declined are final.
MANUAL_MOVES: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.UNDER_REVIEW, Status.WAITING_FIRST_ROUND}) | _DECISIONS,
    Status.UNDER_REVIEW: frozenset({Status.SUBMITTED, Status.WAITING_FIRST_ROUND}) | _DECISIONS,
    Status.WAITING_FIRST_ROUND: frozenset({Status.UNDER_REVIEW}) | _DECISIONS,
    Status.FIRST_ROUND_SCHEDULED: frozenset({Status.WAITING_SECOND_ROUND}) | _DECISIONS,
    Status.WAITING_SECOND_ROUND: _DECISIONS,
    Status.SECOND_ROUND_SCHEDULED: _DECISIONS,
    Status.WAITLIST: frozenset({Status.ACCEPTED, Status.DECLINED}),
    Status.ACCEPTED: frozenset(),
    Status.DECLINED: frozenset(),
}


class TransitionRefused(Exception):
    def __init__(self, current: Status, requested: Status) -> None:
        super().__init__(f"an application cannot move from {current} to {requested} by hand")
        self.current = current
        self.requested = requested


@dataclass(frozen=True)
class Transition:
    status: Status
    interview: InterviewChange


def stage_of(status: Status) -> Stage:
    return STAGE_OF[status]


def statuses_in_stage(stage: Stage) -> frozenset[Status]:
    return frozenset(status for status, of in STAGE_OF.items() if of is stage)


def pipeline_state_of(status: Status) -> PipelineState:
    if status in SCHEDULED_AFTER_WAITING:
        return PipelineState.AWAITING_SCHEDULING
    if status in WAITING_AFTER_CANCELLED:
        return PipelineState.SCHEDULED
    return PipelineState.NONE


def statuses_in_pipeline_state(state: PipelineState) -> frozenset[Status]:
    return frozenset(status for status in Status if pipeline_state_of(status) is state)


def round_of(status: Status) -> int | None:
    return ROUND_OF.get(status)


def apply_booking(
    status: Status, event: BookingEvent, concerns: Concerns, *, another_live: bool
) -> Transition:
    """The effect of a booking event on an application with `status`.

    `concerns` says which booking of the application is rescheduled or cancelled; it does not
    matter for a booking created. `another_live` says whether the application holds a live
    booking besides the one the event is about (it matters when the current one is cancelled).
    """
    if event is BookingEvent.CANCELLED:
        if concerns is not Concerns.CURRENT:
            return Transition(status, InterviewChange.KEEP)
        if another_live:
            return Transition(status, InterviewChange.FALL_BACK)
        return Transition(WAITING_AFTER_CANCELLED.get(status, status), InterviewChange.CLEAR)
    if event is BookingEvent.RESCHEDULED and concerns is Concerns.CURRENT:
        return Transition(status, InterviewChange.SAVE)
    if event is BookingEvent.RESCHEDULED and concerns is Concerns.OTHER_LIVE:
        return Transition(status, InterviewChange.KEEP)
    return Transition(SCHEDULED_AFTER_WAITING.get(status, status), InterviewChange.SAVE)


def manual_move(current: Status, requested: Status) -> Status:
    if requested not in MANUAL_MOVES[current]:
        raise TransitionRefused(current, requested)
    return requested


# An application can be created in any status that does not claim an interview.
CREATABLE: frozenset[Status] = frozenset(Status) - frozenset(WAITING_AFTER_CANCELLED)


class CreatableStatus(StrEnum):
    """CREATABLE, as the API's own type: clients see exactly which statuses they may send."""

    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    WAITING_FIRST_ROUND = "waiting_first_round"
    WAITING_SECOND_ROUND = "waiting_second_round"
    ACCEPTED = "accepted"
    WAITLIST = "waitlist"
    DECLINED = "declined"
