"""One bot per journal: a second ``run`` on the same state would double every order decision.

An exclusive ``flock`` on ``run.lock`` beside the journal, held for the life of the process; the
kernel drops it when the process dies (crash, SIGKILL), so a restart by systemd never finds a
stale lock. The operator commands do not take it: they only read or queue.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import ConfigError


@contextmanager
def single_instance(journal_file: Path) -> Iterator[None]:
    """Hold the run lock of ``journal_file``'s folder, or raise ConfigError naming the holder."""
    journal_file.parent.mkdir(parents=True, exist_ok=True)
    lock_path = journal_file.parent / "run.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(
                f"another bot (pid {holder}) is running on {journal_file}; stop it first "
                "(status, halt and resume work while it runs)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
