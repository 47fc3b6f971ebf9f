"""Atomic file writes: a crash mid-write leaves the old file, never half a new one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from core.errors import ConfigError


def write_atomically(path: Path, write: Callable[[IO[Any]], object], *, binary: bool) -> Path:
    """Call ``write`` on a temp file beside ``path``, fsync it, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
