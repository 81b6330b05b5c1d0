"""Realistic Cal.com deliveries for a seeded cohort: the event mix the benchmark sends.

Of the sends, 20% are duplicates of a recent one: half exact copies (a re-send: the same
event ID), half the same booking change with a new `createdAt` (a second subscription: a new
event ID, deduplicated by booking). The other 80% are bookings created by waiting applicants,
reschedules and cancellations of known bookings (most of an application, some of an orphan),
and bookings by people who match no application (orphans).

Rows an event creates become usable by later events only after `settle()`, called once the
events generated so far have been applied, so no event depends on one still in flight.
"""

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bench.database import (
    SCHEDULED,
    SEEDED_OPEN_ORPHANS_PER_10,
    WAITING,
    SeededCohort,
    event_id,
    name_of,
    seeded_orphan_uid,
    seeded_uid,
)
from bench.database import status_of as seeded_status
from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import booking, encode


class Kind(StrEnum):
    CREATED = "created"
    RESCHEDULED = "rescheduled"
    RESCHEDULED_ORPHAN = "rescheduled_orphan"
    CANCELLED = "cancelled"
    CANCELLED_ORPHAN = "cancelled_orphan"
    ORPHAN = "orphan"
    DUPLICATE = "duplicate"
    """An exact copy of an earlier delivery."""
    RESENT = "resent"
    """An earlier booking change again, with its own `createdAt` (so its own event ID)."""


# Shares of the original (non-duplicate) deliveries, in percent.
MIX: tuple[tuple[str, int], ...] = (("created", 55), ("rescheduled", 22), ("cancelled", 18))
ORPHAN_SHARE = 5
DUPLICATE_SHARE = 0.20
ORPHAN_CHAIN_SHARE = 0.1
"""Of reschedules and cancellations, this share is of an orphan's booking."""
RECENT = 500
"""Duplicates copy one of this many latest originals..."""
RECENT_GAP = 50
"""...but not one of this many latest."""
CREATED_AT_BASE = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
INTERVIEWS_BASE = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@dataclass
class Chain:
    """A booking the service knows, and whose it is: an application (its applicant number)
    or nobody (an orphan)."""

    uid: str
    email: str
    name: str
    applicant: int | None


@dataclass(frozen=True)
class Event:
    kind: Kind
    body: bytes
    signature: str
    event_id: str
    trigger: str
    uid: str
    email: str
    name: str
    created_at: str
    start: datetime
    end: datetime
    reschedule_uid: str | None = None
    original: "Event | None" = None
    """For a duplicate or a re-send: the delivery it repeats."""

    @property
    def origin(self) -> "Event":
        return self.original or self

    @property
    def original_kind(self) -> Kind:
        return self.origin.kind


@dataclass
class Workload:
    cohort: SeededCohort
    seed: int = 20261124
    rng: random.Random = field(init=False)
    waiting: deque[int] = field(init=False)
    chains: deque[Chain] = field(init=False)
    orphan_chains: deque[Chain] = field(init=False)
    _pending_waiting: list[int] = field(default_factory=list)
    _pending_chains: list[Chain] = field(default_factory=list)
    _pending_orphans: list[Chain] = field(default_factory=list)
    _recent: deque[Event] = field(default_factory=lambda: deque(maxlen=RECENT))
    _counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        tag = self.cohort.tag
        applicants = range(1, self.cohort.applications + 1)
        total = self.cohort.applications
        waiting = [n for n in applicants if seeded_status(n, total) in WAITING]
        chains = [
            Chain(seeded_uid(tag, n), self.cohort.email(n), name_of(n), n)
            for n in applicants
            if seeded_status(n, total) in SCHEDULED
        ]
        # The seeded orphans still open (see `bench.database.seed_cohort`).
        orphans = [
            Chain(
                seeded_orphan_uid(tag, k),
                f"walkin.{tag}{k}@elsewhere.example",
                f"Walk In {k}",
                None,
            )
            for k in range(1, max(self.cohort.applications // 100, 1) + 1)
            if k % 10 < SEEDED_OPEN_ORPHANS_PER_10
        ]
        for pool in (waiting, chains, orphans):
            self.rng.shuffle(pool)
        self.waiting = deque(waiting)
        self.chains = deque(chains)
        self.orphan_chains = deque(orphans)

    def settle(self) -> None:
        """Everything generated so far was applied: its bookings may now be changed."""
        self.waiting.extend(self._pending_waiting)
        self.chains.extend(self._pending_chains)
        self.orphan_chains.extend(self._pending_orphans)
        self._pending_waiting.clear()
        self._pending_chains.clear()
        self._pending_orphans.clear()

    def forget_recent(self) -> None:
        """Copies are made only of originals sent from now on."""
        self._recent.clear()

    def batch(self, count: int) -> list[Event]:
        return [self.next() for _ in range(count)]

    def next(self) -> Event:
        if len(self._recent) > RECENT_GAP and self.rng.random() < DUPLICATE_SHARE:
            # Not one of the very latest: a copy arrives a little after its original.
            original = self._recent[self.rng.randrange(len(self._recent) - RECENT_GAP)]
            if self.rng.random() < 0.5:
                return Event(**{**original.__dict__, "kind": Kind.DUPLICATE, "original": original})
            return self._resend(original)
        event = self._original()
        self._recent.append(event)
        return event

    def of_kind(self, kind: Kind) -> Event:
        """One original delivery of this kind (for capturing what the service executes)."""
        if kind is Kind.DUPLICATE:
            original = self._recent[-1]
            return Event(**{**original.__dict__, "kind": Kind.DUPLICATE, "original": original})
        if kind is Kind.RESENT:
            return self._resend(self._recent[-1])
        makers: dict[Kind, Callable[[], Event | None]] = {
            Kind.CREATED: self._created,
            Kind.ORPHAN: self._orphan,
            Kind.RESCHEDULED: lambda: self._rescheduled(self.chains, orphan=False),
            Kind.CANCELLED: lambda: self._cancelled(self.chains, orphan=False),
            Kind.RESCHEDULED_ORPHAN: lambda: self._rescheduled(self.orphan_chains, orphan=True),
            Kind.CANCELLED_ORPHAN: lambda: self._cancelled(self.orphan_chains, orphan=True),
        }
        event = makers[kind]()
        assert event is not None, f"no booking left for {kind}"
        self._recent.append(event)
        return event

    def _original(self) -> Event:
        roll = self.rng.randrange(100)
        for kind, share in MIX:
            if roll < share:
                event = self._make(kind)
                if event is not None:
                    return event
                break
            roll -= share
        return self._orphan()

    def _make(self, kind: str) -> Event | None:
        if kind == "created":
            return self._created()
        orphan = self.rng.random() < ORPHAN_CHAIN_SHARE and bool(self.orphan_chains)
        pool = self.orphan_chains if orphan else self.chains
        if kind == "rescheduled":
            return self._rescheduled(pool, orphan=orphan)
        return self._cancelled(pool, orphan=orphan)

    def _created(self) -> Event | None:
        if not self.waiting:
            return None
        applicant = self.waiting.popleft()
        chain = Chain(self._uid("b"), self.cohort.email(applicant), name_of(applicant), applicant)
        self._pending_chains.append(chain)
        return self._event(Kind.CREATED, "BOOKING_CREATED", chain)

    def _orphan(self) -> Event:
        number = self._tick()
        chain = Chain(
            self._uid("o"),
            f"walkin.{self.cohort.tag}.{number}@elsewhere.example",
            f"Walk In {number}",
            None,
        )
        self._pending_orphans.append(chain)
        return self._event(Kind.ORPHAN, "BOOKING_CREATED", chain)

    def _rescheduled(self, pool: deque[Chain], *, orphan: bool) -> Event | None:
        if not pool:
            return None
        old = pool.popleft()
        new = Chain(self._uid("r"), old.email, old.name, old.applicant)
        (self._pending_orphans if orphan else self._pending_chains).append(new)
        kind = Kind.RESCHEDULED_ORPHAN if orphan else Kind.RESCHEDULED
        return self._event(kind, "BOOKING_RESCHEDULED", new, reschedule_uid=old.uid)

    def _cancelled(self, pool: deque[Chain], *, orphan: bool) -> Event | None:
        if not pool:
            return None
        chain = pool.popleft()
        if chain.applicant is not None:
            # Back to waiting: the applicant may book again.
            self._pending_waiting.append(chain.applicant)
        kind = Kind.CANCELLED_ORPHAN if orphan else Kind.CANCELLED
        return self._event(kind, "BOOKING_CANCELLED", chain)

    def _resend(self, original: Event) -> Event:
        created_at = self._created_at()
        document = booking(
            original.trigger,
            uid=original.uid,
            email=original.email,
            name=original.name,
            start=original.start.isoformat(),
            end=original.end.isoformat(),
            created_at=created_at,
            reschedule_uid=original.reschedule_uid,
        )
        body = encode(document)
        return Event(
            Kind.RESENT,
            body,
            sign(body, self.cohort.secret),
            event_id(original.trigger, original.uid, created_at),
            original.trigger,
            original.uid,
            original.email,
            original.name,
            created_at,
            original.start,
            original.end,
            original.reschedule_uid,
            original,
        )

    def _event(
        self, kind: Kind, trigger: str, chain: Chain, *, reschedule_uid: str | None = None
    ) -> Event:
        created_at = self._created_at()
        start = INTERVIEWS_BASE + timedelta(minutes=30 * self.rng.randrange(4000))
        end = start + timedelta(minutes=30)
        document = booking(
            trigger,
            uid=chain.uid,
            email=chain.email,
            name=chain.name,
            start=start.isoformat(),
            end=end.isoformat(),
            created_at=created_at,
            reschedule_uid=reschedule_uid,
        )
        body = encode(document)
        return Event(
            kind,
            body,
            sign(body, self.cohort.secret),
            event_id(trigger, chain.uid, created_at),
            trigger,
            chain.uid,
            chain.email,
            chain.name,
            created_at,
            start,
            end,
            reschedule_uid,
        )

    def _tick(self) -> int:
        self._counter += 1
        return self._counter

    def _uid(self, prefix: str) -> str:
        return f"{prefix}-{self.cohort.tag}-{self.seed}-{self._tick()}"

    def _created_at(self) -> str:
        moment = CREATED_AT_BASE + timedelta(milliseconds=self._tick())
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
