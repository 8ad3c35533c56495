"""The data folder on disk: private modes for what the relay writes, and the free-space
reserve that keeps delivery going when the disk fills up.

Modes: every folder the relay creates is 0700 and every data file 0600, whatever the
process umask (message text is health data; a 0644 database is readable by every
local user). SQLite creates ``-wal`` and ``-shm`` with the mode of the database file,
so creating that file 0600 first is enough for all three.

The reserve works like Postfix's ``queue_minfree``: below ``storage.min_free_bytes``
the intake stops accepting (503), so that the space left is there for delivery's own
bookkeeping (claims, marking sent, purging bodies), which is what frees space again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("relay.storage")

DIR_MODE = 0o700
FILE_MODE = 0o600
PROBE_INTERVAL = 1.0  # seconds between two statvfs calls; has_room() is on the hot path


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders (mkdir's mode is
    filtered by the umask, and parents made by ``mkdir(parents=True)`` ignore it)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by another process: leave its mode alone
        os.chmod(folder, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 (created so, or tightened if it was
    created looser by an earlier version)."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 & ~FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write a new file with mode 0600 and fsync it (the caller renames it into place)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), FILE_MODE)  # an existing file keeps its old mode otherwise
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def unusable_folder(folder: Path, exc: Exception) -> str:
    """What to tell an operator whose data folder the relay cannot use."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return (
        f"cannot use the data folder {folder.resolve()}: {reason}. The relay runs as "
        f"user id {os.getuid()} and needs to create and write files there: make the "
        f"folder writable by that user (for example: chown -R {os.getuid()} {folder}), "
        "or point storage.data_dir (RELAY_STORAGE__DATA_DIR) at a folder it can write."
    )


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on the file system of ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


class DiskReserve:
    """``has_room()``: is there more than ``min_free`` bytes of room for new submissions?

    Room is the file system's free space plus the space the database already holds
    but no longer uses (free pages left by purged bodies, which new rows reuse: see
    ``reclaimable``). The file system is asked at most once per PROBE_INTERVAL, so
    the check costs a clock read on almost every call. Crossing the line either way
    is logged once. ``probe`` is the seam for tests (default: ``free_bytes``)."""

    def __init__(
        self,
        path: Path,
        min_free: int,
        *,
        probe: Callable[[Path], int] = free_bytes,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.min_free = min_free
        self.reclaimable = 0  # bytes of free pages inside the database, set by the outbox
        self.free = -1  # bytes free on the file system at the last probe (-1: not yet)
        self._probe = probe
        self._monotonic = monotonic
        self._probed_at = float("-inf")
        self._low = False

    @property
    def room(self) -> int:
        return max(self.free, 0) + self.reclaimable

    @property
    def low(self) -> bool:
        """Below the reserve at the last probe (for /readyz and the metrics)."""
        return self._low

    def has_room(self) -> bool:
        if self.min_free <= 0:
            return True
        now = self._monotonic()
        if not self._probed_at <= now < self._probed_at + PROBE_INTERVAL:
            self._probed_at = now
            self.refresh()
        return not self._low

    def refresh(self) -> None:
        """Ask the file system now, and log a crossing of the reserve line."""
        try:
            self.free = self._probe(self.path)
        except OSError:
            return  # keep the last answer; the outbox's own writes report real trouble
        low = self.room < self.min_free
        if low != self._low:
            self._low = low
            extra = {"free_bytes": self.free, "reclaimable_bytes": self.reclaimable,
                     "min_free_bytes": self.min_free}  # fmt: skip
            if low:
                log.error("disk reserve reached; new submissions refused (503)", extra=extra)
            else:
                log.warning("disk space back above the reserve; intake open", extra=extra)
