"""Atomic file writes: a crash mid-write leaves the old file, never half a new one.

Permissions: a new file gets what ``open()`` would give it (0666 less the umask), a replaced
file keeps its mode, and a ``private`` one (state the bot keeps for itself) is always 0600.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from core.errors import ConfigError

PRIVATE_MODE = 0o600
_NEW_FILE_MODE = 0o666  # the kernel takes the umask (and a default ACL) off, as for open()
_NAME_TRIES = 100


def write_atomically(
    path: Path, write: Callable[[IO[Any]], object], *, binary: bool, private: bool = False
) -> Path:
    """Call ``write`` on a temp file beside ``path``, fsync it, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path, private=private)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None:  # a failed write names no file: say which one (disk full)
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _temp_file(path: Path, *, private: bool) -> tuple[int, str]:
    """A new temp file beside ``path`` with the mode ``path`` should end up with."""
    mode = PRIVATE_MODE if private else _mode_of(path)  # None: a new file, the umask decides
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_NAME_TRIES):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, _NEW_FILE_MODE if mode is None else PRIVATE_MODE)
        except FileExistsError:
            continue
        try:
            if mode is not None:  # fchmod, not the umask: a kept mode must not be narrowed
                os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        return fd, tmp
    raise FileExistsError(f"no free temporary name beside {path}")


def _mode_of(path: Path) -> int | None:
    # The permission bits of the file being replaced (None when there is none yet).
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o777
    except FileNotFoundError:
        return None


def check_writable(path: Path, *, what: str) -> None:
    """Raise ConfigError now if a file cannot be created at ``path`` (read-only, no rights).

    Probes the nearest existing folder with a temporary file and removes it again: nothing on
    disk changes. Meant for a long job that writes its outputs only at the end.
    """
    folder = next((p for p in path.parents if p.exists()), Path("."))
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
    except OSError as e:
        raise ConfigError(f"cannot write {what} {path}: {e.strerror or e} (in {folder})") from e
    os.close(fd)
    os.unlink(probe)
