"""The disk reserve and the outbox's housekeeping on real SQLite files; the free-space
probe is replaced (our own seam) where a test needs a full disk on demand."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from relay.errors import OutboxUnavailable
from relay.outbox import GroupCommit, NewItem, SqliteOutbox
from relay.storage import DiskReserve, private_dir

MiB = 1024 * 1024


class Disk:
    """A probe answering ``free`` and counting calls, and a clock the test moves."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0
        self.now = 0.0

    def probe(self, path: Path) -> int:
        self.calls += 1
        return self.free


def test_reserve_refuses_below_the_line_and_reopens_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """has_room() is False below min_free and True again once space is back; each
    crossing is logged once; the file system is asked at most once a second."""
    disk = Disk(free=100 * MiB)
    reserve = DiskReserve(tmp_path, 64 * MiB, probe=disk.probe, monotonic=lambda: disk.now)
    caplog.set_level(logging.INFO, logger="relay.storage")
    assert reserve.has_room()
    disk.free = 10 * MiB
    for _ in range(1000):
        assert reserve.has_room()  # not asked again within the second
    assert disk.calls == 1
    disk.now += 1.0
    assert not reserve.has_room() and reserve.low
    disk.now += 1.0
    assert not reserve.has_room()
    reserve.reclaimable = 60 * MiB  # free pages inside the database count as room
    disk.now += 1.0
    assert reserve.has_room() and not reserve.low
    events = [r.getMessage() for r in caplog.records]
    assert events == [
        "disk reserve reached; new submissions refused (503)",
        "disk space back above the reserve; intake open",
    ]


async def test_below_the_reserve_only_urgent_notices_are_stored(
    tmp_path: Path, new_item: Callable[..., NewItem]
) -> None:
    """Below the reserve an ordinary submission is refused (nothing stored) and an
    urgent crisis notice is still committed."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3", min_free_bytes=1 << 62)  # never enough
    commits = GroupCommit(box, give_up_after=3600)
    try:
        with pytest.raises(OutboxUnavailable, match="reserve"):
            await commits.add(new_item(), clock=lambda: 1.0)
        notice = dataclasses.replace(new_item(), kind="urgent", verdict="crisis")
        await commits.add(notice, clock=lambda: 1.0)
        assert [i.id for i in box.items()] == [notice.id]
    finally:
        box.close()


def test_tidy_hands_purged_pages_back(tmp_path: Path, new_item: Callable[..., NewItem]) -> None:
    """After bodies are purged, tidy() counts the free pages as room, and with
    vacuum=True gives them back to the file system (the file shrinks)."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    items = [new_item(message="x" * 9000) for _ in range(200)]
    box.add(items, now=1.0, give_up_after=3600)
    box.checkpoint()
    full = os.path.getsize(box.path)
    for item in items:
        box.mark_sent(item.id, now=2.0)
    assert box.tidy()
    assert box.reserve.reclaimable > full // 2
    assert box.tidy(vacuum=True)
    assert os.path.getsize(box.path) < full // 2
    assert box.reserve.reclaimable == 0
    box.close()


def test_private_dir_makes_every_missing_level_0700(tmp_path: Path) -> None:
    """Missing parents are 0700 too, even under umask 000."""
    old = os.umask(0)
    try:
        private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert folder.stat().st_mode & 0o777 == 0o700


async def test_a_commit_cut_short_acknowledges_no_one(
    tmp_path: Path, new_item: Callable[..., NewItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the shared commit fails with anything but OutboxUnavailable (a thread that
    cannot start, a cancellation), every post waiting on it is refused, never taken
    for stored."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    commits = GroupCommit(box, give_up_after=3600)

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(box, "add", broken)
    answers: list[str] = []

    async def post() -> None:
        try:
            answers.append(await commits.add(new_item(), clock=lambda: 1.0))
        except OutboxUnavailable:
            answers.append("refused")
        except RuntimeError:
            answers.append("error")

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(post)
        assert sorted(answers) == ["error", "refused", "refused"]
        assert box.items() == []
    finally:
        box.close()
