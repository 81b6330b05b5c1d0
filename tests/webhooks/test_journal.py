import asyncio
import uuid
from pathlib import Path

import pytest

from scheduling_service.webhooks.journal import Journal, JournalEntry, JournalFull

COHORT = uuid.UUID(int=7)


def entry(n: int) -> JournalEntry:
    return JournalEntry(COHORT, f'{{"n": {n}}}'.encode(), f"sig-{n}")


async def test_entries_drain_in_arrival_order_and_are_then_gone(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=1 << 20)
    for n in range(3):
        await journal.append(entry(n))
    seen: list[JournalEntry] = []

    async def apply(item: JournalEntry) -> None:
        seen.append(item)

    assert await journal.drain(apply) == 3
    assert seen == [entry(0), entry(1), entry(2)]
    assert not journal.has_entries()
    assert await journal.drain(apply) == 0


async def test_entries_appended_during_a_drain_wait_for_the_next(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=1 << 20)
    await journal.append(entry(0))

    async def apply(_: JournalEntry) -> None:
        await journal.append(entry(1))

    assert await journal.drain(apply) == 1
    assert journal.has_entries()


async def test_a_failed_apply_keeps_the_file_for_the_next_drain(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=1 << 20)
    for n in range(2):
        await journal.append(entry(n))

    async def unavailable(_: JournalEntry) -> None:
        raise ConnectionRefusedError

    with pytest.raises(ConnectionRefusedError):
        await journal.drain(unavailable)
    seen: list[JournalEntry] = []

    async def apply(item: JournalEntry) -> None:
        seen.append(item)

    assert await journal.drain(apply) == 2
    assert seen == [entry(0), entry(1)]


async def test_a_full_journal_refuses_more(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=len(entry(0).encode()))
    await journal.append(entry(0))

    with pytest.raises(JournalFull):
        await journal.append(entry(1))


async def test_two_drainers_apply_each_entry_once(tmp_path: Path) -> None:
    first, second = Journal(tmp_path, 1 << 20), Journal(tmp_path, 1 << 20)
    for n in range(50):
        await first.append(entry(n))
    seen: list[JournalEntry] = []

    async def apply(item: JournalEntry) -> None:
        seen.append(item)
        await asyncio.sleep(0)

    await asyncio.gather(first.drain(apply), second.drain(apply))

    assert sorted(seen, key=lambda e: e.body) == sorted(
        (entry(n) for n in range(50)), key=lambda e: e.body
    )
