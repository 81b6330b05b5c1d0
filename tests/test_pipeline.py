"""The status state machine over its whole table (SPEC section 2).

Expectations are written out here from the SPEC, as plain strings, and never derived from the
module's own tables, so a wrong entry in `pipeline.py` shows up as a failing case.
"""

import itertools

import pytest

from scheduling_service.pipeline import (
    CREATABLE,
    MANUAL_MOVES,
    BookingEvent,
    CreatableStatus,
    InterviewChange,
    PipelineState,
    Stage,
    Status,
    Transition,
    TransitionRefused,
    apply_booking,
    manual_move,
    pipeline_state_of,
    round_of,
    stage_of,
    statuses_in_pipeline_state,
    statuses_in_stage,
)

ALL_STATUSES = [
    "submitted",
    "under_review",
    "waiting_first_round",
    "first_round_scheduled",
    "waiting_second_round",
    "second_round_scheduled",
    "accepted",
    "waitlist",
    "declined",
]
SCHEDULED = {"first_round_scheduled", "second_round_scheduled"}
TERMINAL = {"accepted", "waitlist", "declined"}
FINAL = {"accepted", "declined"}

# SPEC section 2, the status table.
SPEC_STAGE = {
    "submitted": "application",
    "under_review": "review",
    "waiting_first_round": "first_round",
    "first_round_scheduled": "first_round",
    "waiting_second_round": "second_round",
    "second_round_scheduled": "second_round",
    "accepted": "decision",
    "waitlist": "decision",
    "declined": "decision",
}

# SPEC section 5, the Pipeline column: (state, round).
SPEC_PIPELINE = {
    "submitted": ("none", None),
    "under_review": ("none", None),
    "waiting_first_round": ("awaiting_scheduling", 1),
    "first_round_scheduled": ("scheduled", 1),
    "waiting_second_round": ("awaiting_scheduling", 2),
    "second_round_scheduled": ("scheduled", 2),
    "accepted": ("none", None),
    "waitlist": ("none", None),
    "declined": ("none", None),
}

# SPEC section 2, effects of bookings, one row per status. Columns:
#   created (either flag), rescheduled of the current interview, rescheduled of anything else,
#   cancelled of the current interview, cancelled of anything else.
# Each cell is (new status, what happens to the interview stored on the application).
SPEC_BOOKING_EFFECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "submitted": (
        ("submitted", "save"),
        ("submitted", "save"),
        ("submitted", "save"),
        ("submitted", "clear"),
        ("submitted", "keep"),
    ),
    "under_review": (
        ("under_review", "save"),
        ("under_review", "save"),
        ("under_review", "save"),
        ("under_review", "clear"),
        ("under_review", "keep"),
    ),
    "waiting_first_round": (
        ("first_round_scheduled", "save"),
        ("waiting_first_round", "save"),
        ("first_round_scheduled", "save"),
        ("waiting_first_round", "clear"),
        ("waiting_first_round", "keep"),
    ),
    "first_round_scheduled": (
        ("first_round_scheduled", "save"),
        ("first_round_scheduled", "save"),
        ("first_round_scheduled", "save"),
        ("waiting_first_round", "clear"),
        ("first_round_scheduled", "keep"),
    ),
    "waiting_second_round": (
        ("second_round_scheduled", "save"),
        ("waiting_second_round", "save"),
        ("second_round_scheduled", "save"),
        ("waiting_second_round", "clear"),
        ("waiting_second_round", "keep"),
    ),
    "second_round_scheduled": (
        ("second_round_scheduled", "save"),
        ("second_round_scheduled", "save"),
        ("second_round_scheduled", "save"),
        ("waiting_second_round", "clear"),
        ("second_round_scheduled", "keep"),
    ),
    "accepted": (
        ("accepted", "save"),
        ("accepted", "save"),
        ("accepted", "save"),
        ("accepted", "clear"),
        ("accepted", "keep"),
    ),
    "waitlist": (
        ("waitlist", "save"),
        ("waitlist", "save"),
        ("waitlist", "save"),
        ("waitlist", "clear"),
        ("waitlist", "keep"),
    ),
    "declined": (
        ("declined", "save"),
        ("declined", "save"),
        ("declined", "save"),
        ("declined", "clear"),
        ("declined", "keep"),
    ),
}


def _expected_effect(status: str, event: str, current: bool) -> tuple[str, str]:
    created, resched_current, resched_other, cancel_current, cancel_other = SPEC_BOOKING_EFFECTS[
        status
    ]
    if event == "created":
        return created
    if event == "rescheduled":
        return resched_current if current else resched_other
    assert event == "cancelled"
    return cancel_current if current else cancel_other


BOOKING_CASES = [
    pytest.param(status, event, current, id=f"{status}-{event}-{'current' if current else 'other'}")
    for status in ALL_STATUSES
    for event in ("created", "rescheduled", "cancelled")
    for current in (True, False)
]


def test_enums_hold_exactly_the_spec_names() -> None:
    assert sorted(Status) == sorted(ALL_STATUSES)
    assert sorted(Stage) == sorted(set(SPEC_STAGE.values()))
    assert sorted(PipelineState) == sorted({"awaiting_scheduling", "scheduled", "none"})
    assert sorted(BookingEvent) == sorted({"created", "rescheduled", "cancelled"})
    assert sorted(InterviewChange) == sorted({"save", "clear", "keep"})


def test_booking_table_covers_every_status_event_and_flag() -> None:
    assert len(BOOKING_CASES) == len(ALL_STATUSES) * 3 * 2 == 54


@pytest.mark.parametrize(("status", "event", "current"), BOOKING_CASES)
def test_apply_booking_follows_spec_table(status: str, event: str, current: bool) -> None:
    transition = apply_booking(
        Status(status), BookingEvent(event), concerns_current_interview=current
    )
    expected_status, expected_interview = _expected_effect(status, event, current)
    assert isinstance(transition, Transition)
    assert transition.status == expected_status
    assert transition.interview == expected_interview
    assert isinstance(transition.status, Status)
    assert isinstance(transition.interview, InterviewChange)


@pytest.mark.parametrize(
    ("waiting", "scheduled"),
    [
        ("waiting_first_round", "first_round_scheduled"),
        ("waiting_second_round", "second_round_scheduled"),
    ],
)
def test_booking_created_moves_waiting_to_scheduled_and_saves_interview(
    waiting: str, scheduled: str
) -> None:
    for current in (True, False):
        transition = apply_booking(
            Status(waiting), BookingEvent.CREATED, concerns_current_interview=current
        )
        assert transition == Transition(Status(scheduled), InterviewChange.SAVE)


@pytest.mark.parametrize(
    ("scheduled", "waiting"),
    [
        ("first_round_scheduled", "waiting_first_round"),
        ("second_round_scheduled", "waiting_second_round"),
    ],
)
def test_cancel_of_current_interview_reverts_scheduled_status(scheduled: str, waiting: str) -> None:
    transition = apply_booking(
        Status(scheduled), BookingEvent.CANCELLED, concerns_current_interview=True
    )
    assert transition == Transition(Status(waiting), InterviewChange.CLEAR)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_cancel_of_superseded_booking_keeps_status_and_interview(status: str) -> None:
    transition = apply_booking(
        Status(status), BookingEvent.CANCELLED, concerns_current_interview=False
    )
    assert transition == Transition(Status(status), InterviewChange.KEEP)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_reschedule_of_current_interview_replaces_interview_and_keeps_status(status: str) -> None:
    transition = apply_booking(
        Status(status), BookingEvent.RESCHEDULED, concerns_current_interview=True
    )
    assert transition == Transition(Status(status), InterviewChange.SAVE)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_reschedule_of_unknown_booking_acts_as_booking_created(status: str) -> None:
    rescheduled = apply_booking(
        Status(status), BookingEvent.RESCHEDULED, concerns_current_interview=False
    )
    created = apply_booking(Status(status), BookingEvent.CREATED, concerns_current_interview=False)
    assert rescheduled == created


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_booking_created_ignores_the_current_interview_flag(status: str) -> None:
    assert apply_booking(
        Status(status), BookingEvent.CREATED, concerns_current_interview=True
    ) == apply_booking(Status(status), BookingEvent.CREATED, concerns_current_interview=False)


@pytest.mark.parametrize(
    ("status", "event", "current"),
    [
        pytest.param(s, e, c, id=f"{s}-{e}-{'current' if c else 'other'}")
        for s in sorted(TERMINAL)
        for e in ("created", "rescheduled", "cancelled")
        for c in (True, False)
    ],
)
def test_terminal_status_never_moves_by_any_booking_event(
    status: str, event: str, current: bool
) -> None:
    transition = apply_booking(
        Status(status), BookingEvent(event), concerns_current_interview=current
    )
    assert transition.status == status


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_stage_of_matches_spec_table(status: str) -> None:
    assert stage_of(Status(status)) == SPEC_STAGE[status]
    assert isinstance(stage_of(Status(status)), Stage)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_pipeline_state_of_shows_waiting_as_awaiting_and_scheduled_as_scheduled(
    status: str,
) -> None:
    expected_state, _ = SPEC_PIPELINE[status]
    assert pipeline_state_of(Status(status)) == expected_state


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_round_of_is_1_for_first_round_2_for_second_round_else_none(status: str) -> None:
    _, expected_round = SPEC_PIPELINE[status]
    assert round_of(Status(status)) == expected_round


@pytest.mark.parametrize("stage", sorted(set(SPEC_STAGE.values())))
def test_statuses_in_stage_are_exactly_the_spec_statuses_of_that_stage(stage: str) -> None:
    expected = {status for status, of in SPEC_STAGE.items() if of == stage}
    assert statuses_in_stage(Stage(stage)) == expected


def test_statuses_in_stage_partition_all_statuses() -> None:
    groups = [statuses_in_stage(stage) for stage in Stage]
    assert all(groups), "every stage has at least one status"
    for a, b in itertools.combinations(groups, 2):
        assert not (a & b)
    assert frozenset().union(*groups) == frozenset(Status)
    assert sum(len(group) for group in groups) == len(ALL_STATUSES)


@pytest.mark.parametrize("state", ["awaiting_scheduling", "scheduled", "none"])
def test_statuses_in_pipeline_state_are_exactly_the_spec_statuses_of_that_state(
    state: str,
) -> None:
    expected = {status for status, (of, _) in SPEC_PIPELINE.items() if of == state}
    assert statuses_in_pipeline_state(PipelineState(state)) == expected


def test_statuses_in_pipeline_state_partition_all_statuses() -> None:
    groups = [statuses_in_pipeline_state(state) for state in PipelineState]
    assert all(groups), "every pipeline state has at least one status"
    for a, b in itertools.combinations(groups, 2):
        assert not (a & b)
    assert frozenset().union(*groups) == frozenset(Status)


MANUAL_CASES = [
    pytest.param(current, requested, id=f"{current}->{requested}")
    for current in ALL_STATUSES
    for requested in ALL_STATUSES
]


def test_manual_moves_table_has_a_row_for_every_status() -> None:
    assert set(MANUAL_MOVES) == set(Status)


@pytest.mark.parametrize(("current", "requested"), MANUAL_CASES)
def test_manual_move_is_allowed_exactly_as_manual_moves_table_says(
    current: str, requested: str
) -> None:
    if requested in MANUAL_MOVES[Status(current)]:
        assert manual_move(Status(current), Status(requested)) == requested
    else:
        with pytest.raises(TransitionRefused) as refused:
            manual_move(Status(current), Status(requested))
        assert refused.value.current == current
        assert refused.value.requested == requested
        assert current in str(refused.value)
        assert requested in str(refused.value)


@pytest.mark.parametrize(
    ("current", "requested"),
    [pytest.param(c, r, id=f"{c}->{r}") for c in ALL_STATUSES for r in sorted(SCHEDULED)],
)
def test_manual_move_into_a_scheduled_status_is_refused(current: str, requested: str) -> None:
    with pytest.raises(TransitionRefused):
        manual_move(Status(current), Status(requested))


@pytest.mark.parametrize(
    ("current", "requested"),
    [pytest.param(c, r, id=f"{c}->{r}") for c in sorted(FINAL) for r in ALL_STATUSES],
)
def test_manual_move_out_of_accepted_or_declined_is_refused(current: str, requested: str) -> None:
    with pytest.raises(TransitionRefused):
        manual_move(Status(current), Status(requested))


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        pytest.param(c, r, id=f"{c}->{r}")
        for c in ALL_STATUSES
        if c not in TERMINAL
        for r in sorted(TERMINAL)
    ]
    + [
        pytest.param("waitlist", "accepted", id="waitlist->accepted"),
        pytest.param("waitlist", "declined", id="waitlist->declined"),
        pytest.param(
            "first_round_scheduled",
            "waiting_second_round",
            id="first_round_scheduled->waiting_second_round",
        ),
    ],
)
def test_manual_move_allows_spec_examples_and_decisions(current: str, requested: str) -> None:
    assert manual_move(Status(current), Status(requested)) == requested


def test_creatable_excludes_exactly_the_scheduled_statuses() -> None:
    assert frozenset(CREATABLE) == frozenset(ALL_STATUSES) - SCHEDULED
    assert {Status(status) for status in CreatableStatus} == CREATABLE
    assert all(isinstance(status, Status) for status in CREATABLE)
