"""The watchdog's memory between runs: a small JSON file, written atomically.

Cron starts a fresh process every minute, so how long a process has been
silent, when counters last moved and recent restarts must live on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .decide import History, Progress

DEFAULT_PATH = "/var/lib/celery-stack/watchdog.json"
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


def load(path: Path) -> tuple[State, str | None]:
    """The saved state and a warning; a missing or corrupt file starts afresh."""
    try:
        text = path.read_text(encoding="utf-8")
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock_path, "a")  # noqa: SIM115 (held for the whole with-block)
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
