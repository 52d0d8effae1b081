"""The watchdog's memory between runs: a small JSON file, written atomically.

Cron starts a fresh process every minute, so how long a process has been
silent, when counters last moved and recent restarts must live on disk.
The watchdog runs as root: its state lives in a directory of its own that no
other user can change (never the workers' /var/lib/celery-stack), and no file
there is opened through a symlink, so task code cannot make root write elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .decide import History, Progress

# Root-owned, beside (not inside) the celery user's /var/lib/celery-stack.
DEFAULT_PATH = "/var/lib/celery-stack-watchdog/state.json"
VERSION = 1


class StateError(RuntimeError):
    """The state file cannot be read or written."""


@dataclass
class State:
    processes: dict[str, History] = field(default_factory=dict)  # Supervisor name -> history
    # Nodes seen only through Celery (other hosts, --peers cluster): node -> (progress, seen at).
    peers: dict[str, tuple[Progress, float]] = field(default_factory=dict)


def _progress(raw: Any) -> Progress | None:
    return Progress(**raw) if isinstance(raw, dict) else None


def from_json(data: Any) -> State:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return State()
    processes = {
        name: History(h.get("unresponsive_since"), _progress(h.get("progress")),
                      tuple(h.get("restarts") or ()))
        for name, h in (data.get("processes") or {}).items()
    }
    peers = {node: (Progress(**p["progress"]), p["seen"])
             for node, p in (data.get("peers") or {}).items()}
    return State(processes, peers)


def to_json(state: State) -> dict[str, Any]:
    return {
        "version": VERSION,
        "processes": {name: {"unresponsive_since": h.unresponsive_since,
                             "progress": asdict(h.progress) if h.progress else None,
                             "restarts": list(h.restarts)}
                      for name, h in sorted(state.processes.items())},
        "peers": {node: {"progress": asdict(p), "seen": seen}
                  for node, (p, seen) in sorted(state.peers.items())},
    }


def _refuse_if_others_can_change(path: Path, what: str) -> None:
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"{path}: the watchdog's {what} is not a directory (a symlink?); "
                         "remove it or pass --state-file in a directory of root's")
    if info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o022:
        raise StateError(f"{path}: the watchdog's {what} is owned by uid {info.st_uid} or "
                         "writable by group/others; another user could redirect root's "
                         "writes: use a directory only root can change (chown root, chmod "
                         "go-w) or pass --state-file elsewhere")


def private_dir(directory: Path) -> None:
    """Create the state directory 0700; refuse one that another user could change."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _refuse_if_others_can_change(directory, "state directory")
        _refuse_if_others_can_change(directory.parent, "state directory's parent")
    except OSError as exc:
        raise StateError(f"{directory}: cannot prepare the state directory: "
                         f"{exc.strerror}") from exc


def _open_nofollow(path: Path, flags: int) -> int:
    # O_NOFOLLOW: a symlink planted in place of the file is refused (ELOOP).
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def load(path: Path) -> tuple[State, str | None]:
    """The saved state and a warning; a missing or corrupt file starts afresh."""
    private_dir(path.parent)
    try:
        with os.fdopen(_open_nofollow(path, os.O_RDONLY), encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return State(), None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file: {exc.strerror}") from exc
    try:
        return from_json(json.loads(text)), None
    except (ValueError, TypeError, KeyError) as exc:
        # A corrupt file must not stop the watchdog for good: forget and go on.
        return State(), f"{path}: unreadable state ({exc}); starting afresh"


def save(path: Path, state: State) -> None:
    private_dir(path.parent)
    try:
        # mkstemp creates a new file (O_EXCL), and rename replaces a symlink, never its target.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(to_json(state), fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            # rename is atomic: a crash leaves the old or the new file, never half of one.
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StateError(f"{path}: cannot write the state file: {exc.strerror}") from exc


@contextlib.contextmanager
def locked(path: Path) -> Iterator[bool]:
    """Yield True if this run holds the lock; False if another run still does."""
    lock_path = path.with_name(path.name + ".lock")
    private_dir(lock_path.parent)
    try:
        fh = os.fdopen(_open_nofollow(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a")
    except OSError as exc:
        raise StateError(f"{lock_path}: cannot open the lock file: {exc.strerror}") from exc
    with fh:
        try:
            # A restart may wait stopwaitsecs; the next cron run must not overlap it.
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
