"""A stopped process about to be restarted is continued first, so it can stop warmly.

A process stopped by a signal (SIGSTOP, SIGTSTP: state ``T``) never handles
the SIGTERM Supervisor sends: Supervisor waits the whole ``stopwaitsecs`` and
then SIGKILLs it and its children, so the tasks it holds die half done. Sent
SIGCONT first, the process handles the TERM: Celery's warm shutdown lets the
running tasks finish within ``stopwaitsecs``. A traced process (state ``t``:
a debugger holds it) is left alone. The process group is continued, since
Supervisor starts each program in its own group with its pool children.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

PROC = Path("/proc")


def state(pid: int, proc: Path = PROC) -> str | None:
    """The one-letter state of ``pid`` from /proc/<pid>/stat; None if it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def resume_if_stopped(pid: int, proc: Path = PROC) -> bool:
    """SIGCONT the process group of ``pid`` if ``pid`` is stopped; True if it was."""
    if pid <= 0 or state(pid, proc) != "T":
        return False
    try:
        os.killpg(os.getpgid(pid), signal.SIGCONT)
    except ProcessLookupError:  # ended meanwhile: nothing to continue
        return False
    return True
