"""The Cal.com API client against the fake_calcom Cal.com, over real HTTP."""

from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.reconciliation.client import (
    CalcomApiError,
    CalcomClient,
    KeyRejected,
    RetryPolicy,
)
from tests.fake_calcom_api import API_KEY, FakeCalcomServer

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    fake_calcom: FakeCalcomServer,
    sleeps: Sleeps,
    *,
    key: str = API_KEY,
    timeout: float = 5.0,
    attempts: int = 4,
) -> CalcomClient:
    return CalcomClient(
        fake_calcom.base_url,
        key,
        timeout=timeout,
        retry=RetryPolicy(attempts, base_seconds=0.5, max_seconds=4.0),
        sleep=sleeps,
    )


def make_bookings(fake_calcom: FakeCalcomServer, count: int, event_type_id: int = 1) -> list[str]:
    start = datetime.now(UTC) + timedelta(days=1)
    return [
        fake_calcom.calcom.create(f"a{n}@example.org", f"A {n}", start, event_type_id=event_type_id)
        for n in range(count)
    ]


async def test_every_page_is_read_and_each_booking_answered_once(
    fake_calcom: FakeCalcomServer,
) -> None:
    uids = make_bookings(fake_calcom, 230)
    fake_calcom.calcom.cancel(uids[0])  # now updated: listed by both filters
    sleeps = Sleeps()

    async with client(fake_calcom, sleeps) as api:
        found = await api.bookings_changed_since(LONG_AGO, [])

    assert sorted(b["uid"] for b in found) == sorted(uids)
    created_pages = [r for r in fake_calcom.calcom.requests if "afterCreatedAt" in r]
    assert [(r["take"], r["skip"]) for r in created_pages] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]
    assert sleeps == []


async def test_only_changes_since_the_time_given_are_asked_for(
    fake_calcom: FakeCalcomServer,
) -> None:
    make_bookings(fake_calcom, 3)
    since = fake_calcom.calcom.clock
    later = make_bookings(fake_calcom, 2)

    async with client(fake_calcom, Sleeps()) as api:
        found = await api.bookings_changed_since(since + timedelta(milliseconds=1), [])

    assert sorted(b["uid"] for b in found) == sorted(later)


async def test_event_type_ids_limit_the_bookings(fake_calcom: FakeCalcomServer) -> None:
    interviews = make_bookings(fake_calcom, 2, event_type_id=7)
    make_bookings(fake_calcom, 2, event_type_id=8)

    async with client(fake_calcom, Sleeps()) as api:
        found = await api.bookings_changed_since(LONG_AGO, [7])

    assert sorted(b["uid"] for b in found) == sorted(interviews)
    assert all(r["eventTypeIds"] == "7" for r in fake_calcom.calcom.requests)


async def test_a_429_waits_as_long_as_retry_after_says(fake_calcom: FakeCalcomServer) -> None:
    make_bookings(fake_calcom, 1)
    fake_calcom.calcom.failures.append((429, {"Retry-After": "7"}))
    sleeps = Sleeps()

    async with client(fake_calcom, sleeps) as api:
        found = await api.bookings_changed_since(LONG_AGO, [])

    assert len(found) == 1
    assert sleeps == [7.0]


async def test_server_errors_are_retried_with_backoff_then_reported(
    fake_calcom: FakeCalcomServer,
) -> None:
    fake_calcom.calcom.failures.extend([(503, {}), (500, {}), (502, {}), (500, {})])
    sleeps = Sleeps()

    async with client(fake_calcom, sleeps, attempts=4) as api:
        with pytest.raises(CalcomApiError, match=r"500 \(4 attempts\)"):
            await api.bookings_changed_since(LONG_AGO, [])

    assert sleeps == [0.5, 1.0, 2.0]


async def test_a_refused_key_is_reported_at_once_never_retried(
    fake_calcom: FakeCalcomServer,
) -> None:
    sleeps = Sleeps()

    async with client(fake_calcom, sleeps, key="cal_live_revoked") as api:
        with pytest.raises(KeyRejected, match="401"):
            await api.bookings_changed_since(LONG_AGO, [])

    assert len(fake_calcom.calcom.requests) == 1
    assert sleeps == []


async def test_a_slow_answer_times_out_and_is_asked_again(fake_calcom: FakeCalcomServer) -> None:
    make_bookings(fake_calcom, 1)
    fake_calcom.calcom.delay_seconds = 1.0
    sleeps = Sleeps()

    async with client(fake_calcom, sleeps, timeout=0.2, attempts=2) as api:
        with pytest.raises(CalcomApiError, match="ReadTimeout"):
            await api.bookings_changed_since(LONG_AGO, [])

    assert sleeps == [0.5]
    assert len(fake_calcom.calcom.requests) == 2
