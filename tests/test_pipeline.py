"""The status state machine over its whole table (SPEC section 2).

Expectations are written out here from the SPEC, as plain strings, and never derived from the
module's own tables, so a wrong entry in `pipeline.py` shows up as a failing case.
"""

import itertools

import pytest

from scheduling_service.pipeline import (
    CREATABLE,
    BookingEvent,
    Concerns,
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
#   created (whatever it concerns, another live booking or not),
#   rescheduled: of the current interview, of another live booking, of nothing live,
#   cancelled: of the current interview with another live booking remaining, of the current
#   interview with none remaining, of another live booking, of nothing live.
# Each cell is (new status, what happens to the interview stored on the application).
S, F, C, K = "save", "fall_back", "clear", "keep"
SPEC_BOOKING_EFFECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "submitted": (
        ("submitted", S),
        ("submitted", S), ("submitted", K), ("submitted", S),
        ("submitted", F), ("submitted", C), ("submitted", K), ("submitted", K),
    ),
    "under_review": (
        ("under_review", S),
        ("under_review", S), ("under_review", K), ("under_review", S),
        ("under_review", F), ("under_review", C), ("under_review", K), ("under_review", K),
    ),
    "waiting_first_round": (
        ("first_round_scheduled", S),
        ("waiting_first_round", S), ("waiting_first_round", K), ("first_round_scheduled", S),
        ("waiting_first_round", F), ("waiting_first_round", C),
        ("waiting_first_round", K), ("waiting_first_round", K),
    ),
    "first_round_scheduled": (
        ("first_round_scheduled", S),
        ("first_round_scheduled", S), ("first_round_scheduled", K), ("first_round_scheduled", S),
        ("first_round_scheduled", F), ("waiting_first_round", C),
        ("first_round_scheduled", K), ("first_round_scheduled", K),
    ),
    "waiting_second_round": (
        ("second_round_scheduled", S),
        ("waiting_second_round", S), ("waiting_second_round", K), ("second_round_scheduled", S),
        ("waiting_second_round", F), ("waiting_second_round", C),
        ("waiting_second_round", K), ("waiting_second_round", K),
    ),
    "second_round_scheduled": (
        ("second_round_scheduled", S),
        ("second_round_scheduled", S), ("second_round_scheduled", K),
        ("second_round_scheduled", S),
        ("second_round_scheduled", F), ("waiting_second_round", C),
        ("second_round_scheduled", K), ("second_round_scheduled", K),
    ),
    "accepted": (
        ("accepted", S),
        ("accepted", S), ("accepted", K), ("accepted", S),
        ("accepted", F), ("accepted", C), ("accepted", K), ("accepted", K),
    ),
    "waitlist": (
        ("waitlist", S),
        ("waitlist", S), ("waitlist", K), ("waitlist", S),
        ("waitlist", F), ("waitlist", C), ("waitlist", K), ("waitlist", K),
    ),
    "declined": (
        ("declined", S),
        ("declined", S), ("declined", K), ("declined", S),
        ("declined", F), ("declined", C), ("declined", K), ("declined", K),
    ),
}  # fmt: skip


def _expected_effect(status: str, event: str, concerns: str, another: bool) -> tuple[str, str]:
    (
        created,
        resched_current,
        resched_other,
        resched_nothing,
        cancel_current_fallback,
        cancel_current_alone,
        cancel_other,
        cancel_nothing,
    ) = SPEC_BOOKING_EFFECTS[status]
    if event == "created":
        return created
    if event == "rescheduled":
        return {
            "current": resched_current,
            "other_live": resched_other,
            "nothing_live": resched_nothing,
        }[concerns]
    assert event == "cancelled"
    if concerns == "current":
        return cancel_current_fallback if another else cancel_current_alone
    return cancel_other if concerns == "other_live" else cancel_nothing


CONCERNS = ["current", "other_live", "nothing_live"]
BOOKING_CASES = [
    pytest.param(
        status,
        event,
        concerns,
        another,
        id=f"{status}-{event}-{concerns}-{'another' if another else 'alone'}",
    )
    for status in ALL_STATUSES
    for event in ("created", "rescheduled", "cancelled")
    for concerns in CONCERNS
    for another in (True, False)
]


def test_enums_hold_exactly_the_spec_names() -> None:
    assert sorted(Status) == sorted(ALL_STATUSES)
    assert sorted(Stage) == sorted(set(SPEC_STAGE.values()))
    assert sorted(PipelineState) == sorted({"awaiting_scheduling", "scheduled", "none"})
    assert sorted(BookingEvent) == sorted({"created", "rescheduled", "cancelled"})
    assert sorted(InterviewChange) == sorted({"save", "fall_back", "clear", "keep"})
    assert sorted(Concerns) == sorted(CONCERNS)


@pytest.mark.parametrize(("status", "event", "concerns", "another"), BOOKING_CASES)
def test_apply_booking_follows_spec_table(
    status: str, event: str, concerns: str, another: bool
) -> None:
    transition = apply_booking(
        Status(status), BookingEvent(event), Concerns(concerns), another_live=another
    )
    expected_status, expected_interview = _expected_effect(status, event, concerns, another)
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
    for concerns, another in itertools.product(Concerns, (True, False)):
        transition = apply_booking(
            Status(waiting), BookingEvent.CREATED, concerns, another_live=another
        )
        assert transition == Transition(Status(scheduled), InterviewChange.SAVE)


@pytest.mark.parametrize(
    ("scheduled", "waiting"),
    [
        ("first_round_scheduled", "waiting_first_round"),
        ("second_round_scheduled", "waiting_second_round"),
    ],
)
def test_cancel_of_current_interview_reverts_only_when_no_live_booking_remains(
    scheduled: str, waiting: str
) -> None:
    alone = apply_booking(
        Status(scheduled), BookingEvent.CANCELLED, Concerns.CURRENT, another_live=False
    )
    another = apply_booking(
        Status(scheduled), BookingEvent.CANCELLED, Concerns.CURRENT, another_live=True
    )
    assert alone == Transition(Status(waiting), InterviewChange.CLEAR)
    assert another == Transition(Status(scheduled), InterviewChange.FALL_BACK)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_cancel_of_a_booking_that_is_not_the_interview_keeps_status_and_interview(
    status: str,
) -> None:
    for concerns, another in itertools.product(
        (Concerns.OTHER_LIVE, Concerns.NOTHING_LIVE), (True, False)
    ):
        transition = apply_booking(
            Status(status), BookingEvent.CANCELLED, concerns, another_live=another
        )
        assert transition == Transition(Status(status), InterviewChange.KEEP)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_reschedule_of_current_interview_replaces_interview_and_keeps_status(status: str) -> None:
    transition = apply_booking(
        Status(status), BookingEvent.RESCHEDULED, Concerns.CURRENT, another_live=False
    )
    assert transition == Transition(Status(status), InterviewChange.SAVE)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_reschedule_of_another_live_booking_changes_nothing_on_the_application(
    status: str,
) -> None:
    transition = apply_booking(
        Status(status), BookingEvent.RESCHEDULED, Concerns.OTHER_LIVE, another_live=True
    )
    assert transition == Transition(Status(status), InterviewChange.KEEP)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_reschedule_of_unknown_booking_acts_as_booking_created(status: str) -> None:
    rescheduled = apply_booking(
        Status(status), BookingEvent.RESCHEDULED, Concerns.NOTHING_LIVE, another_live=False
    )
    created = apply_booking(
        Status(status), BookingEvent.CREATED, Concerns.NOTHING_LIVE, another_live=False
    )
    assert rescheduled == created


@pytest.mark.parametrize(
    ("status", "event", "concerns"),
    [
        pytest.param(s, e, c, id=f"{s}-{e}-{c}")
        for s in sorted(TERMINAL)
        for e in ("created", "rescheduled", "cancelled")
        for c in CONCERNS
    ],
)
def test_terminal_status_never_moves_by_any_booking_event(
    status: str, event: str, concerns: str
) -> None:
    for another in (True, False):
        transition = apply_booking(
            Status(status), BookingEvent(event), Concerns(concerns), another_live=another
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


# README, "Manual moves": the statuses each status may be moved to by hand ("a decision" is
# accepted, waitlist or declined). Every other pair of statuses is refused.
README_MANUAL_MOVES: dict[str, set[str]] = {
    "submitted": {"under_review", "waiting_first_round", "accepted", "waitlist", "declined"},
    "under_review": {"submitted", "waiting_first_round", "accepted", "waitlist", "declined"},
    "waiting_first_round": {"under_review", "accepted", "waitlist", "declined"},
    "first_round_scheduled": {"waiting_second_round", "accepted", "waitlist", "declined"},
    "waiting_second_round": {"accepted", "waitlist", "declined"},
    "second_round_scheduled": {"accepted", "waitlist", "declined"},
    "waitlist": {"accepted", "declined"},
    "accepted": set(),
    "declined": set(),
}


@pytest.mark.parametrize(
    ("current", "requested"),
    [pytest.param(c, r, id=f"{c}->{r}") for c in ALL_STATUSES for r in ALL_STATUSES],
)
def test_manual_move_is_allowed_exactly_as_the_readme_table_says(
    current: str, requested: str
) -> None:
    if requested in README_MANUAL_MOVES[current]:
        assert manual_move(Status(current), Status(requested)) == requested
        return
    with pytest.raises(TransitionRefused) as refused:
        manual_move(Status(current), Status(requested))
    assert refused.value.current == current
    assert refused.value.requested == requested
    assert str(refused.value) == (
        f"an application cannot move from {current} to {requested} by hand"
    )


def test_creatable_excludes_exactly_the_scheduled_statuses() -> None:
    assert frozenset(CREATABLE) == frozenset(ALL_STATUSES) - SCHEDULED
    assert {Status(status) for status in CreatableStatus} == CREATABLE
    assert all(isinstance(status, Status) for status in CREATABLE)
